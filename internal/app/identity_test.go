package app_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/models"
)

// TestIdentityChangesByAnotherConnection: the server caches identities,
// yet a change committed on another connection to the database (as an
// operator command or another instance makes it) applies to the very next
// request of a token whose identity is cached.
func TestIdentityChangesByAnotherConnection(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url, func(c *config.Config) { c.RateLimitMin = 0 })
		other := apitest.MustOpenDB(t, url)
		ctx := context.Background()
		exec := func(query string, args ...any) {
			t.Helper()
			if _, err := other.ExecContext(ctx, query, args...); err != nil {
				t.Fatalf("%s: %v", query, err)
			}
		}
		// get reads twice, so that the second answer comes from the cache.
		get := func(token string) *apitest.Response {
			t.Helper()
			s.Do(http.MethodGet, "/v1/agents", token, nil)
			return s.Do(http.MethodGet, "/v1/agents", token, nil)
		}

		t.Run("RoleChange", func(t *testing.T) {
			u := s.CreateUser(s.AdminToken, "role@example.com", models.RoleDeveloper)
			get(u.Token)
			if res := s.Do(http.MethodDelete, "/v1/agents/agt_missing", u.Token, nil); res.Status != http.StatusNotFound {
				t.Fatalf("developer: %d %s", res.Status, res.Body)
			}
			exec("UPDATE users SET role = ? WHERE id = ?", string(models.RoleViewer), u.ID)
			if res := s.Do(http.MethodDelete, "/v1/agents/agt_missing", u.Token, nil); res.Status != http.StatusForbidden {
				t.Fatalf("after the change to viewer: %d %s", res.Status, res.Body)
			}
		})
		t.Run("PasswordChange", func(t *testing.T) {
			u := s.CreateUser(s.AdminToken, "password@example.com", models.RoleDeveloper)
			if res := get(u.Token); res.Status != http.StatusOK {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			exec("UPDATE users SET token_version = token_version + 1 WHERE id = ?", u.ID)
			if res := s.Do(http.MethodGet, "/v1/agents", u.Token, nil); res.Status != http.StatusUnauthorized {
				t.Fatalf("after the password change: %d %s", res.Status, res.Body)
			}
		})
		t.Run("DeletedUser", func(t *testing.T) {
			u := s.CreateUser(s.AdminToken, "deleted@example.com", models.RoleDeveloper)
			if res := get(u.Token); res.Status != http.StatusOK {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			exec("DELETE FROM users WHERE id = ?", u.ID)
			if res := s.Do(http.MethodGet, "/v1/agents", u.Token, nil); res.Status != http.StatusUnauthorized {
				t.Fatalf("after the deletion: %d %s", res.Status, res.Body)
			}
		})
		t.Run("RevokedAPIToken", func(t *testing.T) {
			res := s.Do(http.MethodPost, "/v1/tokens", s.AdminToken, map[string]any{"name": "cached", "role": "viewer"})
			if res.Status != http.StatusCreated {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			tok := res.JSON(t)
			secret, id := tok["token"].(string), tok["id"].(string)
			if res := get(secret); res.Status != http.StatusOK {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			exec("DELETE FROM api_tokens WHERE id = ?", id)
			if res := s.Do(http.MethodGet, "/v1/agents", secret, nil); res.Status != http.StatusUnauthorized {
				t.Fatalf("after the revocation: %d %s", res.Status, res.Body)
			}
		})
		t.Run("TierChange", func(t *testing.T) {
			u := s.CreateOrg("tiered", "tiered@example.com", models.TierFree)
			want := models.TierFree.DefaultRateLimit()
			if res := get(u.Token); res.Header.Get("X-RateLimit-Limit") != strconv.Itoa(want) {
				t.Fatalf("limit %q, want %d", res.Header.Get("X-RateLimit-Limit"), want)
			}
			exec("UPDATE organizations SET tier = ?, rate_limit = ? WHERE id = ?", string(models.TierPro), 123_456, u.OrgID)
			if res := s.Do(http.MethodGet, "/v1/agents", u.Token, nil); res.Header.Get("X-RateLimit-Limit") != "123456" {
				t.Fatalf("after the tier change: limit %q", res.Header.Get("X-RateLimit-Limit"))
			}
		})
	})
}
