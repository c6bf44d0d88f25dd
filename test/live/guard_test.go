package live_test

import (
	"net/http"
	"strconv"
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
				apitest.Eventually(t, 10*time.Second, "the subscription on the bus", func() bool { return subscribers(s) > before })
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

// TestWebSocketLimits: operations over one socket count against the
// caller's rate limit like HTTP requests, a socket without identity runs
// nothing, and subscriptions are bounded per connection and per user.
func TestWebSocketLimits(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url, func(c *config.Config) {
			c.RateLimitMin = 0
			c.AnonymousRateLimit = 1000
			c.MaxSubscriptionsPerConnection = 2
			c.MaxSubscriptionsPerUser = 3
		})

		t.Run("RateLimitExceeded", func(t *testing.T) {
			free := s.CreateOrg("free", "free-admin@example.com", models.TierFree)
			c := connect(t, s, free.Token)
			allowed := 0
			var refused gqlResult
			// Twice the limit: a window that turns over meanwhile starts the count again.
			for i := range 250 {
				r := c.do(strconv.Itoa(i), `{ me { id } }`, nil)
				if r.code() == models.CodeRateLimitExceeded {
					refused = r
					break
				}
				if len(r.Errors) > 0 {
					t.Fatalf("query %d: %+v", i, r.Errors)
				}
				allowed++
			}
			if len(refused.Errors) == 0 || allowed < 100 {
				t.Fatalf("%d queries over one socket ran on a limit of 100", allowed)
			}
			details, _ := refused.Errors[0].Extensions["details"].(map[string]any)
			if retry, _ := details["retry_after"].(float64); retry < 1 || retry > 60 {
				t.Fatalf("refusal %+v", refused.Errors)
			}
			// The socket stays open: the next operation is answered.
			c.do("after", `{ me { id } }`, nil)
		})

		t.Run("AnonymousUnauthorized", func(t *testing.T) {
			c, _, err := dial(t, s, false, nil)
			if err != nil {
				t.Fatal(err)
			}
			c.send(wsMessage{Type: "connection_init"})
			if m := c.read(); m.Type != "connection_ack" {
				t.Fatalf("init: %+v", m)
			}
			for i, q := range []string{`{ __schema { queryType { name } } }`, agentEventsQuery} {
				if r := c.do(strconv.Itoa(i), q, nil); r.code() != models.CodeUnauthorized {
					t.Fatalf("anonymous %s: %s %+v", q, r.Data, r.Errors)
				}
			}
		})

		t.Run("SubscriptionBounds", func(t *testing.T) {
			if len(s.Instances) > 1 {
				t.Skip("the per-user bound counts the subscriptions of one process")
			}
			a, b := connect(t, s, s.AdminToken), connect(t, s, s.AdminToken)
			refused := func(c *wsClient, id, per string) {
				t.Helper()
				c.subscribe(id, agentEventsQuery, nil)
				r, ok := c.nextResult(id)
				if !ok || r.code() != models.CodeRateLimitExceeded || !strings.Contains(r.Errors[0].Message, "per "+per) {
					t.Fatalf("subscription %s over the bound per %s: %+v", id, per, r)
				}
				if _, ok := c.nextResult(id); ok {
					t.Fatalf("subscription %s: results after the refusal", id)
				}
			}
			before := subscribers(s)
			a.subscribe("1", agentEventsQuery, nil)
			a.subscribe("2", agentEventsQuery, nil)
			apitest.Eventually(t, 10*time.Second, "two subscriptions on the bus", func() bool { return subscribers(s) >= before+2 })
			refused(a, "3", "connection")
			b.subscribe("1", agentEventsQuery, nil)
			apitest.Eventually(t, 10*time.Second, "three subscriptions on the bus", func() bool { return subscribers(s) >= before+3 })
			refused(b, "2", "user")

			// A stopped subscription frees its place.
			a.send(wsMessage{ID: "1", Type: "complete"})
			if r, ok := a.nextResult("1"); ok {
				t.Fatalf("stopped subscription: %+v", r)
			}
			apitest.Eventually(t, 10*time.Second, "the stopped subscription off the bus", func() bool { return subscribers(s) == before+2 })
			b.subscribe("3", agentEventsQuery, nil)
			apitest.Eventually(t, 10*time.Second, "the new subscription on the bus", func() bool { return subscribers(s) == before+3 })
			refused(a, "4", "user")
		})
	})
}
