package rest_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/models"
	"github.com/neuais/neuais/rest"
)

// TestUnknownQueryParameters walks the route table: on every GET route an
// undeclared query parameter is invalid_request naming it, as an unknown
// body field is, and the declared ones are accepted.
func TestUnknownQueryParameters(t *testing.T) {
	s := apitest.Start(t, "")
	res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, agentBody)
	if res.Status != http.StatusCreated {
		t.Fatalf("create agent: %d %s", res.Status, res.Body)
	}
	values := map[string]string{"id": res.JSON(t)["id"].(string), "name": "database"}
	for _, route := range rest.Routes() {
		if route.Method != http.MethodGet {
			continue
		}
		path := "/v1" + route.Path
		for k, v := range values {
			path = strings.ReplaceAll(path, "{"+k+"}", v)
		}
		if strings.HasPrefix(route.Path, "/users/") {
			path = strings.Replace(path, values["id"], s.Admin().ID, 1)
		}
		t.Run(route.Path, func(t *testing.T) {
			res := s.Do(http.MethodGet, path+"?foo=bar", s.AdminToken, nil)
			if res.Status != http.StatusBadRequest || res.ErrorCode() != models.CodeInvalidRequest || res.ErrorField() != "foo" {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			if route.Path == "/users" {
				// The example: a filter the route does not have.
				if res := s.Do(http.MethodGet, path+"?role=admin", s.AdminToken, nil); res.Status != http.StatusBadRequest || res.ErrorField() != "role" {
					t.Fatalf("role=admin: %d %s", res.Status, res.Body)
				}
			}
			declared := route.QueryParams()
			if len(declared) == 0 {
				return
			}
			// Declared parameters pass the check (their values may still be wrong).
			var query []string
			for _, k := range declared {
				query = append(query, k+"=")
			}
			if res := s.Do(http.MethodGet, path+"?"+strings.Join(query, "&"), s.AdminToken, nil); res.ErrorCode() == models.CodeInvalidRequest && !slices.Contains(declared, res.ErrorField()) {
				t.Fatalf("declared %v: %d %s", declared, res.Status, res.Body)
			}
		})
	}
}
