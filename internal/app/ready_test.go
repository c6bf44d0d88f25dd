package app_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
)

// TestReady: /readyz answers 503 with the reason once shutdown has begun
// or when the database is gone, while /healthz (liveness) stays 200.
func TestReady(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		t.Run("ShuttingDown", func(t *testing.T) {
			s := apitest.Start(t, url)
			if res := s.Do(http.MethodGet, "/readyz", "", nil); res.Status != http.StatusOK {
				t.Fatalf("before: %d %s", res.Status, res.Body)
			}
			s.App.BeginShutdown()
			res := s.Do(http.MethodGet, "/readyz", "", nil)
			if res.Status != http.StatusServiceUnavailable || res.ErrorCode() != "service_unavailable" || !strings.Contains(string(res.Body), "Shutting down") {
				t.Fatalf("shutting down: %d %s", res.Status, res.Body)
			}
			if res := s.Do(http.MethodGet, "/healthz", "", nil); res.Status != http.StatusOK {
				t.Fatalf("healthz: %d %s", res.Status, res.Body)
			}
		})
		t.Run("DatabaseClosed", func(t *testing.T) {
			s := apitest.Start(t, url)
			if err := s.App.DB.Close(); err != nil {
				t.Fatal(err)
			}
			res := s.Do(http.MethodGet, "/readyz", "", nil)
			if res.Status != http.StatusServiceUnavailable || !strings.Contains(string(res.Body), "Database unreachable") {
				t.Fatalf("database closed: %d %s", res.Status, res.Body)
			}
		})
	})
}
