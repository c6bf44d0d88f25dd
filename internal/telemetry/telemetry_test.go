package telemetry

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestRouteLabels: requests are counted by route pattern, also when a
// middleware answers before routing (a 429), and unmatched paths share
// one label.
func TestRouteLabels(t *testing.T) {
	h, err := NewHTTP(NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	streaming := make(chan float64, 1)
	r := chi.NewRouter()
	r.Use(h.Middleware, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.Header.Get("X-Refuse") != "" {
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			next.ServeHTTP(w, req)
		})
	})
	r.Get("/items/{id}", func(http.ResponseWriter, *http.Request) {})
	r.Get("/stream", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.(http.Flusher).Flush()
		streaming <- testutil.ToFloat64(h.streams)
	})
	sub := chi.NewRouter()
	sub.Post("/things/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) })
	r.Mount("/v1", sub)

	do := func(method, path string, refuse bool) {
		req := httptest.NewRequest(method, path, nil)
		if refuse {
			req.Header.Set("X-Refuse", "1")
		}
		r.ServeHTTP(httptest.NewRecorder(), req)
	}
	do(http.MethodGet, "/items/1", false)
	do(http.MethodGet, "/items/2", false)
	do(http.MethodGet, "/items/3", true)
	do(http.MethodPost, "/v1/things/9", false)
	do(http.MethodPost, "/v1/things/9", true)
	do(http.MethodGet, "/nowhere/1", false)
	do(http.MethodGet, "/nowhere/2", true)
	do("BREW", "/items/1", false)
	do(http.MethodGet, "/stream", false)

	for _, c := range []struct {
		route, method, status string
		want                  float64
	}{
		{"/items/{id}", "GET", "200", 2},
		{"/items/{id}", "GET", "429", 1},
		{"/v1/things/{id}", "POST", "201", 1},
		{"/v1/things/{id}", "POST", "429", 1},
		{"unmatched", "GET", "404", 1},
		{"unmatched", "GET", "429", 1},
		{"unmatched", "other", "405", 1}, // chi refuses an unknown method before routing
		{"/stream", "GET", "200", 1},
	} {
		if got := testutil.ToFloat64(h.requests.WithLabelValues(c.route, c.method, c.status)); got != c.want {
			t.Errorf("%s %s %s: %v, want %v", c.method, c.route, c.status, got, c.want)
		}
	}
	if n := testutil.CollectAndCount(h.requests); n != 8 {
		t.Errorf("%d request series, want 8", n)
	}
	if open := <-streaming; open != 1 {
		t.Errorf("%v streams open while streaming, want 1", open)
	}
	if open := testutil.ToFloat64(h.streams); open != 0 {
		t.Errorf("%v streams open after it ended", open)
	}
}
