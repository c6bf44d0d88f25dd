package webhooks_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/models"
)

func TestBadInput(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)
		ok := map[string]any{"url": "https://example.com/hook", "events": []string{"agent.created"}}
		with := func(k string, v any) map[string]any {
			b := map[string]any{}
			for key, val := range ok {
				b[key] = val
			}
			if v == nil {
				delete(b, k)
			} else {
				b[k] = v
			}
			return b
		}
		for _, c := range []struct {
			name  string
			body  map[string]any
			field string
		}{
			{"URLMissing", with("url", nil), "url"},
			{"URLEmpty", with("url", ""), "url"},
			{"URLNotHTTP", with("url", "ftp://example.com/hook"), "url"},
			{"URLRelative", with("url", "/hook"), "url"},
			{"URLWithCredentials", with("url", "https://user:pw@example.com/hook"), "url"},
			{"URLTooLong", with("url", "https://example.com/"+strings.Repeat("a", 2100)), "url"},
			{"URLLoopback", with("url", "http://127.0.0.1/hook"), "url"},
			{"URLPrivate", with("url", "http://10.1.2.3/hook"), "url"},
			{"URLLinkLocal", with("url", "http://169.254.169.254/latest"), "url"},
			{"URLLocalhost", with("url", "http://localhost:8000/hook"), "url"},
			{"URLNotString", with("url", 42), "url"},
			{"EventsMissing", with("events", nil), "events"},
			{"EventsEmpty", with("events", []string{}), "events"},
			{"EventsUnknown", with("events", []string{"agent.created", "agent.exploded"}), "events"},
			{"EventsNotList", with("events", "agent.created"), "events"},
			{"SecretShort", with("secret", "short"), "secret"},
			{"SecretLong", with("secret", strings.Repeat("s", 300)), "secret"},
			{"SecretSpaces", with("secret", " padded-secret "), "secret"},
			{"SecretBadBase64", with("secret", "whsec_!!!not-base64!!!"), "secret"},
			{"SecretKeyTooShort", with("secret", "whsec_c2hvcnQ="), "secret"},
		} {
			t.Run(c.name, func(t *testing.T) {
				res := s.Do(http.MethodPost, "/v1/webhooks", s.AdminToken, c.body)
				if res.Status != 400 || res.ErrorCode() != "invalid_request" || res.ErrorField() != c.field {
					t.Fatalf("%d %s, want 400 naming %s", res.Status, res.Body, c.field)
				}
			})
		}
		w := createWebhook(t, s, s.AdminToken, ok)
		for _, c := range []struct {
			name  string
			body  map[string]any
			field string
		}{
			{"URL", map[string]any{"url": "mailto:a@example.com"}, "url"},
			{"Events", map[string]any{"events": []string{"billing.paid"}}, "events"},
			{"EventsEmpty", map[string]any{"events": []string{}}, "events"},
			{"Active", map[string]any{"active": "yes"}, "active"},
		} {
			t.Run("Update"+c.name, func(t *testing.T) {
				res := s.Do(http.MethodPut, "/v1/webhooks/"+w.ID, s.AdminToken, c.body)
				if res.Status != 400 || res.ErrorField() != c.field {
					t.Fatalf("%d %s, want 400 naming %s", res.Status, res.Body, c.field)
				}
			})
		}
		for _, c := range []struct{ name, path, field string }{
			{"DeliveryStatus", "/v1/webhooks/" + w.ID + "/deliveries?status=lost", "status"},
			{"DeliveryLimit", "/v1/webhooks/" + w.ID + "/deliveries?limit=0", "limit"},
			{"EventType", "/v1/events?type=agent.exploded", "type"},
			{"EventSort", "/v1/events?sort=name", "sort"},
			{"EventLimit", "/v1/events?limit=-1", "limit"},
			{"ListSort", "/v1/webhooks?sort=secret", "sort"},
		} {
			t.Run(c.name, func(t *testing.T) {
				res := s.Do(http.MethodGet, c.path, s.AdminToken, nil)
				if res.Status != 400 || res.ErrorField() != c.field {
					t.Fatalf("%d %s, want 400 naming %s", res.Status, res.Body, c.field)
				}
			})
		}
	})
}

func TestAPI(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)
		body := map[string]any{"url": "https://example.com/hook", "events": []string{"agent.created", "agent.created", "*"}}
		res := s.Do(http.MethodPost, "/v1/webhooks", s.AdminToken, body, "Idempotency-Key", "hook-1")
		if res.Status != 201 || !strings.HasPrefix(res.Header.Get("Location"), "/v1/webhooks/whk_") {
			t.Fatalf("create: %d %s", res.Status, res.Body)
		}
		var w webhook
		if err := json.Unmarshal(res.Body, &w); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(w.ID, "whk_") || !strings.HasPrefix(w.Secret, "whsec_") || len(w.Events) != 1 || w.Events[0] != "*" || w.Status != "active" {
			t.Fatalf("created %s", res.Body)
		}
		t.Run("IdempotentCreate", func(t *testing.T) {
			again := s.Do(http.MethodPost, "/v1/webhooks", s.AdminToken, body, "Idempotency-Key", "hook-1")
			var w2 webhook
			if err := json.Unmarshal(again.Body, &w2); err != nil {
				t.Fatal(err)
			}
			if again.Status != 201 || w2.ID != w.ID || w2.Secret != w.Secret {
				t.Fatalf("replay: %d %s", again.Status, again.Body)
			}
			other := s.Do(http.MethodPost, "/v1/webhooks", s.AdminToken, map[string]any{"url": "https://example.com/other", "events": []string{"*"}}, "Idempotency-Key", "hook-1")
			if other.Status != 409 {
				t.Fatalf("key reused with another body: %d %s", other.Status, other.Body)
			}
		})
		t.Run("SecretsSealed", func(t *testing.T) {
			// Neither the webhook row nor the idempotency record holds the secret in the clear.
			for _, q := range []string{"SELECT secret FROM webhooks", "SELECT response FROM idempotency_keys"} {
				rows, err := s.App.DB.QueryContext(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				for rows.Next() {
					var v string
					if err := rows.Scan(&v); err != nil {
						t.Fatal(err)
					}
					if strings.Contains(v, w.Secret) || strings.Contains(v, strings.TrimPrefix(w.Secret, "whsec_")) {
						t.Fatalf("%s holds the secret: %s", q, v)
					}
				}
				rows.Close()
			}
		})
		t.Run("SecretNeverShownAgain", func(t *testing.T) {
			for _, path := range []string{"/v1/webhooks/" + w.ID, "/v1/webhooks", "/v1/webhooks/" + w.ID + "/deliveries"} {
				res := s.Do(http.MethodGet, path, s.AdminToken, nil)
				if res.Status != 200 || strings.Contains(string(res.Body), w.Secret) || strings.Contains(string(res.Body), `"secret"`) {
					t.Fatalf("%s: %d %s", path, res.Status, res.Body)
				}
			}
			res := s.GraphQL(s.AdminToken, `{ webhook(id: "`+w.ID+`") { secret } }`, nil)
			if len(res.Errors) == 0 {
				t.Fatal("GraphQL's Webhook has a secret field")
			}
		})
		t.Run("Update", func(t *testing.T) {
			res := s.Do(http.MethodPut, "/v1/webhooks/"+w.ID, s.AdminToken, map[string]any{"url": "https://example.org/new", "events": []string{"agent.error"}, "active": false})
			got := res.JSON(t)
			if res.Status != 200 || got["url"] != "https://example.org/new" || got["status"] != "inactive" || got["active"] != false {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("RotateShowsNewSecretOnce", func(t *testing.T) {
			res := s.Do(http.MethodPost, "/v1/webhooks/"+w.ID+"/rotate-secret", s.AdminToken, nil)
			got := res.JSON(t)
			if res.Status != 200 || got["secret"] == w.Secret || !strings.HasPrefix(got["secret"].(string), "whsec_") || got["previous_secret_expires_at"] == nil {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("List", func(t *testing.T) {
			createWebhook(t, s, s.AdminToken, map[string]any{"url": "https://example.com/b", "events": []string{"agent.started"}})
			res := s.Do(http.MethodGet, "/v1/webhooks?limit=1&offset=1&fields=id,url", s.AdminToken, nil)
			got := res.JSON(t)
			hooks, _ := got["webhooks"].([]any)
			if res.Status != 200 || got["total"] != float64(2) || len(hooks) != 1 || got["has_more"] != false || len(hooks[0].(map[string]any)) != 2 {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("Services", func(t *testing.T) {
			res := s.Do(http.MethodGet, "/v1/services/webhooks/status", s.AdminToken, nil)
			got := res.JSON(t)
			if res.Status != 200 || got["status"] != "healthy" || !strings.Contains(got["detail"].(string), "queue depth") {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("Delete", func(t *testing.T) {
			if res := s.Do(http.MethodDelete, "/v1/webhooks/"+w.ID, s.AdminToken, nil); res.Status != 200 || res.JSON(t)["message"] != "Webhook deleted successfully" {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			if res := s.Do(http.MethodGet, "/v1/webhooks/"+w.ID, s.AdminToken, nil); res.Status != 404 {
				t.Fatalf("after delete: %d", res.Status)
			}
			// Its idempotency record went with it: the key makes a new webhook.
			again := s.Do(http.MethodPost, "/v1/webhooks", s.AdminToken, body, "Idempotency-Key", "hook-1")
			if again.Status != 201 || again.JSON(t)["id"] == w.ID {
				t.Fatalf("key after delete: %d %s", again.Status, again.Body)
			}
		})
	})
}

// TestRoles: admins and developers manage webhooks, viewers read them and
// the events; another organization's webhook or delivery is not_found.
func TestRoles(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url, func(c *config.Config) { c.AllowPrivateWebhookURLs = true })
		dev := s.CreateUser(s.AdminToken, "dev@example.com", models.RoleDeveloper)
		viewer := s.CreateUser(s.AdminToken, "viewer@example.com", models.RoleViewer)
		other := s.CreateOrg("other", "other@example.com", models.TierFree)
		hookBody := map[string]any{"url": "http://127.0.0.1:9/hook", "events": []string{"*"}}
		w := createWebhook(t, s, s.AdminToken, hookBody)
		test := s.Do(http.MethodPost, "/v1/webhooks/"+w.ID+"/test", s.AdminToken, nil)
		if test.Status != 202 {
			t.Fatalf("test: %d %s", test.Status, test.Body)
		}
		dlv := test.JSON(t)["id"].(string)

		type call struct {
			name, method, path string
			body               any
			want               map[string]int // by role; other is the other organization's admin
		}
		manage := func(code int) map[string]int {
			return map[string]int{"admin": code, "developer": code, "viewer": 403, "other": 404}
		}
		read := map[string]int{"admin": 200, "developer": 200, "viewer": 200, "other": 404}
		calls := []call{
			{"Get", http.MethodGet, "/v1/webhooks/" + w.ID, nil, read},
			{"Deliveries", http.MethodGet, "/v1/webhooks/" + w.ID + "/deliveries", nil, read},
			{"Update", http.MethodPut, "/v1/webhooks/" + w.ID, map[string]any{"active": true}, manage(200)},
			{"Rotate", http.MethodPost, "/v1/webhooks/" + w.ID + "/rotate-secret", nil, manage(200)},
			{"Test", http.MethodPost, "/v1/webhooks/" + w.ID + "/test", nil, manage(202)},
			{"Retry", http.MethodPost, "/v1/webhooks/" + w.ID + "/deliveries/" + dlv + "/retry", nil, manage(202)},
		}
		tokens := map[string]string{"admin": s.AdminToken, "developer": dev.Token, "viewer": viewer.Token, "other": other.Token}
		for _, c := range calls {
			for _, role := range []string{"admin", "developer", "viewer", "other"} {
				t.Run(c.name+"/"+role, func(t *testing.T) {
					res := s.Do(c.method, c.path, tokens[role], c.body)
					if res.Status != c.want[role] {
						t.Fatalf("%d %s, want %d", res.Status, res.Body, c.want[role])
					}
				})
			}
		}
		t.Run("Create", func(t *testing.T) {
			for role, want := range map[string]int{"admin": 201, "developer": 201, "viewer": 403} {
				if res := s.Do(http.MethodPost, "/v1/webhooks", tokens[role], hookBody); res.Status != want {
					t.Fatalf("%s: %d %s", role, res.Status, res.Body)
				}
			}
		})
		t.Run("ListAndEvents", func(t *testing.T) {
			for _, path := range []string{"/v1/webhooks", "/v1/events"} {
				if res := s.Do(http.MethodGet, path, viewer.Token, nil); res.Status != 200 {
					t.Fatalf("viewer %s: %d", path, res.Status)
				}
				res := s.Do(http.MethodGet, path, other.Token, nil)
				if res.Status != 200 || res.JSON(t)["total"] != float64(0) {
					t.Fatalf("other organization sees %s: %s", path, res.Body)
				}
			}
		})
		t.Run("OtherOrgDelivery", func(t *testing.T) {
			mine := createWebhook(t, s, other.Token, hookBody)
			res := s.Do(http.MethodPost, "/v1/webhooks/"+mine.ID+"/deliveries/"+dlv+"/retry", other.Token, nil)
			if res.Status != 404 || res.ErrorCode() != "not_found" {
				t.Fatalf("another organization's delivery: %d %s", res.Status, res.Body)
			}
		})
		t.Run("Delete", func(t *testing.T) {
			for _, c := range []struct {
				role string
				want int
			}{{"viewer", 403}, {"other", 404}, {"developer", 200}} {
				if res := s.Do(http.MethodDelete, "/v1/webhooks/"+w.ID, tokens[c.role], nil); res.Status != c.want {
					t.Fatalf("%s: %d %s", c.role, res.Status, res.Body)
				}
			}
		})
	})
}
