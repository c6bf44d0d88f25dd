package runtime

import (
	"encoding/json"
	"strings"

	"github.com/neuais/neuais/models"
)

// LineLevel returns the level of one output line: the "level" field of a
// JSON object, else a leading level word ("WARN x", "[error] x", "Info: x"),
// else fallback (info for stdout, error for stderr).
func LineLevel(line, fallback string) string {
	trimmed := strings.TrimSpace(line)
	if strings.HasPrefix(trimmed, "{") {
		var obj struct {
			Level any `json:"level"`
		}
		if json.Unmarshal([]byte(trimmed), &obj) == nil {
			if level, ok := jsonLevel(obj.Level); ok {
				return level
			}
		}
		return fallback
	}
	if level, ok := leadingLevel(trimmed); ok {
		return level
	}
	return fallback
}

func jsonLevel(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return levelWord(v)
	case float64: // pino and bunyan levels
		switch {
		case v >= 50:
			return models.LevelError, true
		case v >= 40:
			return models.LevelWarn, true
		case v >= 30:
			return models.LevelInfo, true
		case v > 0:
			return models.LevelDebug, true
		}
	}
	return "", false
}

func leadingLevel(s string) (string, bool) {
	bracketed := strings.HasPrefix(s, "[")
	if bracketed {
		s = s[1:]
	}
	end := strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	})
	word, rest := s, ""
	if end >= 0 {
		word, rest = s[:end], s[end:]
	}
	// The word must end the line or be followed by its bracket, a colon or
	// a space, so that "Information" or "errors: 3" stay at the fallback.
	switch {
	case bracketed && !strings.HasPrefix(rest, "]"):
		return "", false
	case !bracketed && rest != "" && rest[0] != ':' && rest[0] != ' ' && rest[0] != '\t':
		return "", false
	}
	switch strings.ToLower(word) {
	case "debug", "info", "warn", "warning", "error":
		return levelWord(word)
	}
	return "", false
}

func levelWord(w string) (string, bool) {
	switch strings.ToLower(strings.TrimSpace(w)) {
	case "trace", "debug":
		return models.LevelDebug, true
	case "info", "notice":
		return models.LevelInfo, true
	case "warn", "warning":
		return models.LevelWarn, true
	case "error", "err", "fatal", "panic", "critical":
		return models.LevelError, true
	}
	return "", false
}
