package runtime_test

import (
	"testing"

	"github.com/neuais/neuais/internal/runtime"
)

func TestParseQuantity(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"256Mi", 256 << 20, true},
		{"1Gi", 1 << 30, true},
		{"1.5Gi", 3 << 29, true},
		{"500M", 500e6, true},
		{"1048576", 1 << 20, true},
		{"", 0, false},
		{"-1Gi", 0, false},
		{"lots", 0, false},
	}
	for _, tt := range tests {
		got, err := runtime.ParseQuantity(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseQuantity(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
