package app_test

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/models"
)

// A NUL character in any input is invalid_request naming the input, never
// an internal_error from the database.
func TestNULCharacters(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)
		agent := map[string]any{"name": "nul", "runtime": "go", "binary_url": "https://example.com/bin"}
		for _, tc := range []struct {
			name, method, path string
			body               any
			token              string
			field              string
		}{
			{"AgentID", http.MethodGet, "/v1/agents/agt_%00", nil, s.AdminToken, "id"},
			{"AgentLogsID", http.MethodGet, "/v1/agents/%00/logs", nil, s.AdminToken, "id"},
			{"UserID", http.MethodGet, "/v1/users/usr_%00", nil, s.AdminToken, "id"},
			{"NamePrefix", http.MethodGet, "/v1/agents?name_prefix=a%00", nil, s.AdminToken, "name_prefix"},
			{"LoginEmail", http.MethodPost, "/v1/auth/token", `{"email":"a\u0000@example.com","password":"x"}`, "", "email"},
			{"UserUpdate", http.MethodPut, "/v1/users/usr_x", `{"email":"a\u0000@example.com"}`, s.AdminToken, "email"},
			{"Environment", http.MethodPost, "/v1/agents", map[string]any{"name": "nul", "runtime": "go", "binary_url": "https://example.com/bin",
				"environment": map[string]string{"A": "x\x00y"}}, s.AdminToken, "environment.A"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := s.Do(tc.method, tc.path, tc.token, tc.body)
				if res.Status != http.StatusBadRequest || res.ErrorCode() != models.CodeInvalidRequest || res.ErrorField() != tc.field {
					t.Fatalf("got %d %s, want 400 invalid_request on %s", res.Status, res.Body, tc.field)
				}
			})
		}
		t.Run("GraphQLLiteral", func(t *testing.T) {
			res := s.GraphQL(s.AdminToken, `{ agent(id: "agt_\u0000") { id } }`, nil)
			if res.Code() != models.CodeInvalidRequest {
				t.Fatalf("got %+v, want invalid_request", res.Errors)
			}
		})
		t.Run("NothingStored", func(t *testing.T) {
			if res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, agent); res.Status != http.StatusCreated {
				t.Fatalf("a clean agent after refused ones: %d %s", res.Status, res.Body)
			}
		})
	})
}

// A method a route does not serve is 405 with the contract's envelope and
// an Allow header; HEAD is served wherever GET is, without a body.
func TestMethods(t *testing.T) {
	s := apitest.Start(t, "sqlite:"+filepath.Join(t.TempDir(), "test.db"))
	t.Run("MethodNotAllowed", func(t *testing.T) {
		for path, allow := range map[string]string{"/v1/agents": "GET, HEAD, POST", "/v1/agents/agt_x": "GET, HEAD, PUT, DELETE", "/v1/agents/agt_x/start": "POST"} {
			res := s.Do(http.MethodPatch, path, s.AdminToken, "{}")
			if res.Status != http.StatusMethodNotAllowed || res.ErrorCode() != models.CodeMethodNotAllowed || res.Header.Get("Allow") != allow {
				t.Fatalf("PATCH %s: %d %v %s, want 405 method_not_allowed, Allow: %s", path, res.Status, res.Header, res.Body, allow)
			}
		}
	})
	t.Run("Head", func(t *testing.T) {
		get := s.Do(http.MethodGet, "/v1/agents", s.AdminToken, nil)
		res := s.Do(http.MethodHead, "/v1/agents", s.AdminToken, nil)
		if res.Status != http.StatusOK || len(res.Body) != 0 || res.Header.Get("Content-Type") != get.Header.Get("Content-Type") || res.Header.Get("X-RateLimit-Limit") == "" {
			t.Fatalf("HEAD: %d %v %q", res.Status, res.Header, res.Body)
		}
		if res := s.Do(http.MethodHead, "/v1/agents/agt_missing", s.AdminToken, nil); res.Status != http.StatusNotFound {
			t.Fatalf("HEAD of a missing agent: %d", res.Status)
		}
	})
}
