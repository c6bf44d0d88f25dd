package rest

import (
	"slices"
	"strings"
	"unicode"
)

// camelKeys returns body with every key turned from snake_case to
// camelCase, recursively, leaving the values of opaque keys as they are.
func camelKeys(v any, opaque []string) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, val := range v {
			if slices.Contains(opaque, k) {
				out[camel(k)] = val
				continue
			}
			out[camel(k)] = camelKeys(val, opaque)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, val := range v {
			out[i] = camelKeys(val, opaque)
		}
		return out
	default:
		return v
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
