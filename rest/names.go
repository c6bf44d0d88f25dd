package rest

import (
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/neuais/neuais/models"
)

// camelKeys returns body with every key turned from snake_case to
// camelCase, recursively, leaving the values of opaque keys as they are.
// Two keys of one object with the same camelCase form (binary_url and
// binaryUrl) are invalid_request: which one won would depend on map order.
func camelKeys(v any, opaque []string, path string) (any, *models.Error) {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, val := range v {
			ck := camel(k)
			if _, dup := out[ck]; dup {
				return nil, models.Invalid(snakePath(path+ck, opaque), "is given twice, in two spellings")
			}
			if slices.Contains(opaque, k) {
				out[ck] = val
				continue
			}
			var err *models.Error
			if out[ck], err = camelKeys(val, opaque, path+ck+"."); err != nil {
				return nil, err
			}
		}
		return out, nil
	case []any:
		out := make([]any, len(v))
		for i, val := range v {
			var err *models.Error
			if out[i], err = camelKeys(val, opaque, path+strconv.Itoa(i)+"."); err != nil {
				return nil, err
			}
		}
		return out, nil
	default:
		return v, nil
	}
}

func camel(s string) string {
	if !strings.Contains(s, "_") {
		return s
	}
	var b strings.Builder
	upper := false
	for _, r := range s {
		switch {
		case r == '_':
			upper = true
		case upper:
			b.WriteRune(unicode.ToUpper(r))
			upper = false
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func snake(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) && i > 0 {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// snakePath turns a dotted camelCase path into snake_case, keeping every
// segment after an opaque key as it is (environment.MY_VAR).
func snakePath(path string, opaque []string) string {
	parts := strings.Split(path, ".")
	for i, p := range parts {
		parts[i] = snake(p)
		if slices.Contains(opaque, parts[i]) {
			break
		}
	}
	return strings.Join(parts, ".")
}
