package live_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/models"
)

// do runs one query or mutation on the socket and returns its result.
func (c *wsClient) do(id, query string, vars map[string]any) gqlResult {
	c.t.Helper()
	c.subscribe(id, query, vars)
	r, ok := c.nextResult(id)
	if !ok {
		c.t.Fatalf("operation %s completed without a result", id)
	}
	if _, more := c.nextResult(id); more {
		c.t.Fatalf("operation %s: more than one result", id)
	}
	return r
}

func (r gqlResult) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	code, _ := r.Errors[0].Extensions["code"].(string)
	return code
}

// connect opens a graphql-transport-ws socket authenticated by token in
// connection_init.
func connect(t *testing.T, s *apitest.Server, token string) *wsClient {
	t.Helper()
	c, _, err := dial(t, s, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.init(token)
	return c
}

const createAgentMutation = `mutation($name: String!) { createAgent(input: {name: $name, runtime: "go", binaryUrl: "https://example.com/agent"}) { id } }`

// TestWebSocketIdentity: every operation on a socket runs as the user is
// now, not as it was at connection_init, and running subscriptions end
// with a final error once the token no longer holds.
func TestWebSocketIdentity(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url, func(c *config.Config) { c.StreamUserCheck = 200 * time.Millisecond })

		t.Run("RoleChangeForbids", func(t *testing.T) {
			dev := s.CreateUser(s.AdminToken, "demoted@example.com", models.RoleDeveloper)
			c := connect(t, s, dev.Token)
			if r := c.do("1", createAgentMutation, map[string]any{"name": "before-demotion"}); len(r.Errors) > 0 {
				t.Fatalf("developer's createAgent: %+v", r.Errors)
			}
			if res := s.Do(http.MethodPut, "/v1/users/"+dev.ID, s.AdminToken, map[string]any{"role": "viewer"}); res.Status != http.StatusOK {
				t.Fatalf("demote: %d %s", res.Status, res.Body)
			}
			if r := c.do("2", createAgentMutation, map[string]any{"name": "after-demotion"}); r.code() != models.CodeForbidden {
				t.Fatalf("viewer's createAgent on the old socket: %s %+v", r.Data, r.Errors)
			}
			if r := c.do("3", `{ me { role } }`, nil); len(r.Errors) > 0 || !strings.Contains(string(r.Data), `"viewer"`) {
				t.Fatalf("me after demotion: %s %+v", r.Data, r.Errors)
			}
		})

		for _, tc := range []struct {
			name, message string
			change        func(u *apitest.User) *apitest.Response
		}{
			{"PasswordChangeRevokes", "Token revoked", func(u *apitest.User) *apitest.Response {
				return s.Do(http.MethodPut, "/v1/users/"+u.ID, s.AdminToken, map[string]any{"password": "another-password-1"})
			}},
			{"DeletionRevokes", "User no longer exists", func(u *apitest.User) *apitest.Response {
				return s.Do(http.MethodDelete, "/v1/users/"+u.ID, s.AdminToken, nil)
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				u := s.CreateUser(s.AdminToken, strings.ToLower(tc.name)+"@example.com", models.RoleDeveloper)
				c := connect(t, s, u.Token)
				before := subscribers(s)
				c.subscribe("1", agentEventsQuery, nil)
				pollUntil(t, 10*time.Second, "the subscription on the bus", func() bool { return subscribers(s) > before })
				if res := tc.change(u); res.Status != http.StatusOK {
					t.Fatalf("change: %d %s", res.Status, res.Body)
				}
				r, ok := c.nextResult("1")
				if !ok || r.code() != models.CodeUnauthorized || !strings.Contains(r.Errors[0].Message, tc.message) {
					t.Fatalf("subscription's final result %+v, want unauthorized %q", r, tc.message)
				}
				if _, ok := c.nextResult("1"); ok {
					t.Fatal("results after the final error")
				}
				if r := c.do("2", createAgentMutation, map[string]any{"name": strings.ToLower(tc.name)}); r.code() != models.CodeUnauthorized || !strings.Contains(r.Errors[0].Message, tc.message) {
					t.Fatalf("operation after the change: %s %+v", r.Data, r.Errors)
				}
			})
		}
	})
}
