package runtime_test

import (
	"testing"

	"github.com/neuais/neuais/internal/runtime"
)

func TestLineLevel(t *testing.T) {
	tests := []struct {
		line, fallback, want string
	}{
		{`{"level":"debug","msg":"x"}`, "info", "debug"},
		{`{"level":"WARNING","msg":"x"}`, "info", "warn"},
		{`{"level":50,"msg":"x"}`, "info", "error"},
		{`{"msg":"no level"}`, "error", "error"},
		{`{not json`, "info", "info"},
		{"INFO plain", "error", "info"},
		{"warn: careful", "info", "warn"},
		{"Warning: careful", "info", "warn"},
		{"[ERROR] broken", "info", "error"},
		{"[debug]: details", "info", "debug"},
		{"  error", "info", "error"},
		{"Information is power", "error", "error"},
		{"errors: 3", "info", "info"},
		{"[errors] 3", "info", "info"},
		{"plain stdout", "info", "info"},
		{"plain stderr", "error", "error"},
	}
	for _, tt := range tests {
		if got := runtime.LineLevel(tt.line, tt.fallback); got != tt.want {
			t.Errorf("LineLevel(%q, %q) = %q, want %q", tt.line, tt.fallback, got, tt.want)
		}
	}
}
