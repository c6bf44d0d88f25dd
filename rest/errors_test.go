package rest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
)

// TestErrorsCarryDetails checks that every error envelope has a details
// object, {} when there is nothing to add, as the contract's format
// shows: answers of routes, of the router (404, 405), of the middleware
// (401, 429, 500) and of a stream refused before it starts; and that
// GraphQL errors carry extensions.details alike.
func TestErrorsCarryDetails(t *testing.T) {
	s := apitest.Start(t, "", func(c *config.Config) { c.RateLimitMin = 0; c.AnonymousRateLimit = 3 })
	missing := "/v1/agents/agt_0000000000000000"
	for _, tc := range []struct {
		name, method, path, token string
		status                    int
	}{
		{"NoSuchRoute", http.MethodGet, "/v1/nowhere", s.AdminToken, 404},
		{"MethodNotAllowed", http.MethodPatch, "/v1/agents", s.AdminToken, 405},
		{"NotFound", http.MethodGet, missing, s.AdminToken, 404},
		{"StreamNotFound", http.MethodGet, missing + "/logs?follow=true", s.AdminToken, 404},
		{"Unauthorized", http.MethodGet, "/v1/agents", "", 401},
		{"BadToken", http.MethodGet, "/v1/agents", "not-a-token", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := s.Do(tc.method, tc.path, tc.token, nil)
			var env struct {
				Error struct {
					Code    string          `json:"code"`
					Details json.RawMessage `json:"details"`
				} `json:"error"`
			}
			if err := json.Unmarshal(res.Body, &env); err != nil || res.Status != tc.status || env.Error.Code == "" || len(env.Error.Details) == 0 || env.Error.Details[0] != '{' {
				t.Fatalf("%d %s, want %d with details", res.Status, res.Body, tc.status)
			}
		})
	}
	t.Run("RateLimited", func(t *testing.T) {
		for range 10 {
			if res := s.Do(http.MethodGet, "/v1/agents", "", nil); res.Status == http.StatusTooManyRequests {
				if res.ErrorCode() != "rate_limit_exceeded" || !json.Valid(res.Body) || !bytes.Contains(res.Body, []byte(`"details":{"retry_after":`)) {
					t.Fatalf("%s", res.Body)
				}
				return
			}
		}
		t.Fatal("never refused")
	})
	t.Run("InternalError", func(t *testing.T) {
		broken := apitest.Start(t, "")
		if err := broken.App.DB.Close(); err != nil {
			t.Fatal(err)
		}
		res := broken.Do(http.MethodGet, "/v1/users", broken.AdminToken, nil)
		if res.Status != 500 || string(res.Body) != `{"error":{"code":"internal_error","message":"internal server error","details":{}}}`+"\n" {
			t.Fatalf("%d %s", res.Status, res.Body)
		}
	})
	t.Run("GraphQL", func(t *testing.T) {
		for _, q := range []string{`{ agent(id: "agt_0000000000000000") { id } }`, `{ nothing }`, `{`} {
			gql := s.GraphQL(s.AdminToken, q, nil)
			if len(gql.Errors) == 0 {
				t.Fatalf("%s: no error", q)
			}
			if d, ok := gql.Errors[0].Extensions["details"].(map[string]any); !ok || len(d) != 0 {
				t.Fatalf("%s: %+v", q, gql.Errors)
			}
		}
	})
}
