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

func TestHostSuffix(t *testing.T) {
	tests := []struct {
		template, want string
		ok             bool
	}{
		{"http://{name}.localhost:8000", ".localhost", true},
		{"https://{name}.Neuais.app", ".neuais.app", true},
		{"http://localhost:8000/agents/{name}", "", false},
		{"http://x{name}.localhost", "", false},
		{"http://{name}", "", false},
	}
	for _, tt := range tests {
		got, err := runtime.HostSuffix(tt.template)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("HostSuffix(%q) = %q, %v; want %q, ok %v", tt.template, got, err, tt.want, tt.ok)
		}
	}
}
