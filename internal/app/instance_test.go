package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/app"
	"github.com/neuais/neuais/internal/config"
)

// lockedBuffer takes log lines from the app's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) lines() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Split(strings.TrimSpace(b.buf.String()), "\n")
}

// TestInstanceInLogs: every line the app logs names its instance, the
// configured one, or one generated when none is.
func TestInstanceInLogs(t *testing.T) {
	var logs lockedBuffer
	cfg := apitest.Config("", t.TempDir())
	cfg.InstanceID = "api-7"
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewJSONHandler(&logs, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	a.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	lines := logs.lines()
	if len(lines) == 0 || !strings.Contains(strings.Join(lines, "\n"), `"msg":"request"`) {
		t.Fatalf("no request line in %q", lines)
	}
	for _, l := range lines {
		var line map[string]any
		if err := json.Unmarshal([]byte(l), &line); err != nil || line["instance"] != "api-7" {
			t.Errorf("line without the instance: %s", l)
		}
	}

	generated := apitest.Start(t, "", func(c *config.Config) { c.InstanceID = "" })
	if !strings.HasPrefix(generated.App.Instance, "inst_") {
		t.Fatalf("generated instance id %q", generated.App.Instance)
	}
}

// TestInstanceInServices: a component's status and the GraphQL services
// name the instance that checked them.
func TestInstanceInServices(t *testing.T) {
	s := apitest.Start(t, "", func(c *config.Config) { c.InstanceID = "api-3" })
	if body := s.Do(http.MethodGet, "/v1/services/database/status", s.AdminToken, nil).JSON(t); body["instance"] != "api-3" {
		t.Fatalf("status: %v", body)
	}
	gql := s.GraphQL(s.AdminToken, `{ services { items { name instance } } }`, nil)
	var data struct {
		Services struct {
			Items []struct{ Name, Instance string }
		}
	}
	if err := json.Unmarshal(gql.Data, &data); err != nil || len(data.Services.Items) == 0 {
		t.Fatalf("%s %+v", gql.Data, gql.Errors)
	}
	for _, item := range data.Services.Items {
		if item.Instance != "api-3" {
			t.Errorf("%s: instance %q", item.Name, item.Instance)
		}
	}
}
