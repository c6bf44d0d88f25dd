package tokens_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/models"
)

type token struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Role       string  `json:"role"`
	UserID     string  `json:"user_id"`
	Token      string  `json:"token"`
	CreatedAt  string  `json:"created_at"`
	ExpiresAt  *string `json:"expires_at"`
	LastUsedAt *string `json:"last_used_at"`
}

func create(t *testing.T, s *apitest.Server, bearer string, body map[string]any) token {
	t.Helper()
	res := s.Do(http.MethodPost, "/v1/tokens", bearer, body)
	if res.Status != http.StatusCreated {
		t.Fatalf("create token %v: %d %s", body, res.Status, res.Body)
	}
	var tok token
	if err := json.Unmarshal(res.Body, &tok); err != nil {
		t.Fatal(err)
	}
	return tok
}

func list(t *testing.T, s *apitest.Server, bearer string) ([]token, []byte) {
	t.Helper()
	res := s.Do(http.MethodGet, "/v1/tokens", bearer, nil)
	if res.Status != 200 {
		t.Fatalf("list: %d %s", res.Status, res.Body)
	}
	var page struct {
		Tokens []token `json:"tokens"`
	}
	if err := json.Unmarshal(res.Body, &page); err != nil {
		t.Fatal(err)
	}
	return page.Tokens, res.Body
}

// status is the status of a read with bearer.
func status(s *apitest.Server, bearer string) int {
	return s.Do(http.MethodGet, "/v1/agents", bearer, nil).Status
}

func TestTokens(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)
		admin := s.Admin()

		t.Run("WorksUntilRevoked", func(t *testing.T) {
			tok := create(t, s, s.AdminToken, map[string]any{"name": "ci", "role": "developer"})
			if !strings.HasPrefix(tok.Token, "nat_") || !strings.HasPrefix(tok.ID, "tkn_") || tok.Role != "developer" || tok.UserID != admin.ID || tok.ExpiresAt != nil {
				t.Fatalf("%+v", tok)
			}
			if code := status(s, tok.Token); code != 200 {
				t.Fatalf("token refused: %d", code)
			}
			// GraphQL and WebSocket callers use the same check.
			if out := s.GraphQL(tok.Token, `{ me { id } }`, nil); len(out.Errors) > 0 || !strings.Contains(string(out.Data), admin.ID) {
				t.Fatalf("%s %+v", out.Data, out.Errors)
			}
			if res := s.Do(http.MethodDelete, "/v1/tokens/"+tok.ID, s.AdminToken, nil); res.Status != 200 {
				t.Fatalf("revoke: %d %s", res.Status, res.Body)
			}
			if res := s.Do(http.MethodGet, "/v1/agents", tok.Token, nil); res.Status != 401 || res.ErrorCode() != "unauthorized" {
				t.Fatalf("revoked token: %d %s", res.Status, res.Body)
			}
			if res := s.Do(http.MethodDelete, "/v1/tokens/"+tok.ID, s.AdminToken, nil); res.Status != 404 {
				t.Fatalf("revoke twice: %d", res.Status)
			}
		})
		t.Run("WorksUntilExpired", func(t *testing.T) {
			exp := time.Now().Add(1500 * time.Millisecond).UTC().Format(time.RFC3339Nano)
			tok := create(t, s, s.AdminToken, map[string]any{"name": "short", "role": "viewer", "expires_at": exp})
			if tok.ExpiresAt == nil {
				t.Fatalf("%+v", tok)
			}
			if code := status(s, tok.Token); code != 200 {
				t.Fatalf("before expiry: %d", code)
			}
			apitest.Eventually(t, 10*time.Second, "the token to expire", func() bool { return status(s, tok.Token) == 401 })
			past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
			if res := s.Do(http.MethodPost, "/v1/tokens", s.AdminToken, map[string]any{"name": "past", "role": "viewer", "expires_at": past}); res.Status != 400 || res.ErrorField() != "expires_at" {
				t.Fatalf("expiry in the past: %d %s", res.Status, res.Body)
			}
		})
		t.Run("RoleNoHigherThanCreator", func(t *testing.T) {
			dev := s.CreateUser(s.AdminToken, "dev@example.com", models.RoleDeveloper)
			if res := s.Do(http.MethodPost, "/v1/tokens", dev.Token, map[string]any{"name": "up", "role": "admin"}); res.Status != 403 {
				t.Fatalf("developer made an admin token: %d %s", res.Status, res.Body)
			}
			tok := create(t, s, dev.Token, map[string]any{"name": "dev-ci", "role": "developer"})
			agent := map[string]any{"name": "by-token", "runtime": "native", "binary_url": "https://example.com/agent"}
			if res := s.Do(http.MethodPost, "/v1/agents", tok.Token, agent); res.Status != 201 {
				t.Fatalf("developer token cannot create: %d %s", res.Status, res.Body)
			}
			if res := s.Do(http.MethodGet, "/v1/users", tok.Token, nil); res.Status != 403 {
				t.Fatalf("developer token lists users: %d", res.Status)
			}
			// Demoting the creator demotes the token at its next request.
			if res := s.Do(http.MethodPut, "/v1/users/"+dev.ID, s.AdminToken, map[string]any{"role": "viewer"}); res.Status != 200 {
				t.Fatalf("demote: %d %s", res.Status, res.Body)
			}
			agent["name"] = "by-demoted-token"
			if res := s.Do(http.MethodPost, "/v1/agents", tok.Token, agent); res.Status != 403 {
				t.Fatalf("token outranks its demoted creator: %d %s", res.Status, res.Body)
			}
			// A viewer token of an admin stays a viewer.
			viewerTok := create(t, s, s.AdminToken, map[string]any{"name": "read-only", "role": "viewer"})
			agent["name"] = "by-viewer-token"
			if res := s.Do(http.MethodPost, "/v1/agents", viewerTok.Token, agent); res.Status != 403 {
				t.Fatalf("viewer token writes: %d", res.Status)
			}
			// Deleting the creator revokes its tokens.
			if res := s.Do(http.MethodDelete, "/v1/users/"+dev.ID, s.AdminToken, nil); res.Status != 200 {
				t.Fatalf("delete user: %d %s", res.Status, res.Body)
			}
			if code := status(s, tok.Token); code != 401 {
				t.Fatalf("token of a deleted user: %d", code)
			}
		})
		t.Run("PasswordChangeRevokes", func(t *testing.T) {
			u := s.CreateUser(s.AdminToken, "pw@example.com", models.RoleDeveloper)
			tok := create(t, s, u.Token, map[string]any{"name": "laptop", "role": "developer"})
			if res := s.Do(http.MethodPut, "/v1/users/"+u.ID, s.AdminToken, map[string]any{"password": "another-password-1"}); res.Status != 200 {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			if code := status(s, tok.Token); code != 401 {
				t.Fatalf("token after a password change: %d", code)
			}
		})
		t.Run("SecretShownOnce", func(t *testing.T) {
			tok := create(t, s, s.AdminToken, map[string]any{"name": "once", "role": "viewer"})
			status(s, tok.Token)
			items, body := list(t, s, s.AdminToken)
			if strings.Contains(string(body), tok.Token) || strings.Contains(string(body), `"token"`) {
				t.Fatalf("list shows the secret: %s", body)
			}
			gql := s.GraphQL(s.AdminToken, `{ apiTokens { items { id name role userId createdAt expiresAt lastUsedAt } } }`, nil)
			if strings.Contains(string(gql.Data), tok.Token) || len(gql.Errors) > 0 {
				t.Fatalf("%s %+v", gql.Data, gql.Errors)
			}
			var stored []string
			if err := s.App.DB.NewSelect().Table("api_tokens").Column("secret_hash").Scan(context.Background(), &stored); err != nil {
				t.Fatal(err)
			}
			for _, h := range stored {
				if strings.Contains(h, tok.Token) || strings.Contains(h, strings.TrimPrefix(tok.Token, "nat_")) {
					t.Fatal("the secret is stored")
				}
			}
			var found bool
			for _, it := range items {
				if it.ID == tok.ID {
					found = true
					if it.LastUsedAt == nil {
						t.Errorf("last use not recorded: %+v", it)
					}
				}
			}
			if !found {
				t.Fatalf("%s missing from %s", tok.ID, body)
			}
		})
		t.Run("VisibilityAndTenancy", func(t *testing.T) {
			dev := s.CreateUser(s.AdminToken, "dev2@example.com", models.RoleDeveloper)
			devTok := create(t, s, dev.Token, map[string]any{"name": "mine", "role": "viewer"})
			adminTok := create(t, s, s.AdminToken, map[string]any{"name": "admins", "role": "viewer"})
			items, _ := list(t, s, dev.Token)
			if len(items) != 1 || items[0].ID != devTok.ID {
				t.Fatalf("a developer sees %+v", items)
			}
			if res := s.Do(http.MethodDelete, "/v1/tokens/"+adminTok.ID, dev.Token, nil); res.Status != 404 {
				t.Fatalf("developer revokes the admin's token: %d", res.Status)
			}
			all, _ := list(t, s, s.AdminToken)
			var seen bool
			for _, it := range all {
				seen = seen || it.ID == devTok.ID
			}
			if !seen {
				t.Fatal("the admin does not see the developer's token")
			}
			other := s.CreateOrg("other", "other@example.com", models.TierFree)
			if res := s.Do(http.MethodDelete, "/v1/tokens/"+devTok.ID, other.Token, nil); res.Status != 404 || res.ErrorCode() != "not_found" {
				t.Fatalf("another organization's token: %d %s", res.Status, res.Body)
			}
			if items, _ := list(t, s, other.Token); len(items) != 0 {
				t.Fatalf("other org sees %+v", items)
			}
			if res := s.Do(http.MethodDelete, "/v1/tokens/"+devTok.ID, s.AdminToken, nil); res.Status != 200 {
				t.Fatalf("admin revokes a member's token: %d", res.Status)
			}
		})
		t.Run("IdempotencyKey", func(t *testing.T) {
			body := map[string]any{"name": "deploys", "role": "viewer"}
			keyed := func(bearer, key string, body map[string]any) *apitest.Response {
				return s.Do(http.MethodPost, "/v1/tokens", bearer, body, "Idempotency-Key", key)
			}
			first := keyed(s.AdminToken, "tok-1", body)
			again := keyed(s.AdminToken, "tok-1", body)
			if first.Status != 201 || again.Status != 201 {
				t.Fatalf("%d %s / %d %s", first.Status, first.Body, again.Status, again.Body)
			}
			var a, b token
			if err := json.Unmarshal(first.Body, &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(again.Body, &b); err != nil {
				t.Fatal(err)
			}
			if a.ID == "" || a.ID != b.ID || a.Token != b.Token {
				t.Fatalf("a retry made another token: %+v %+v", a, b)
			}
			if code := status(s, b.Token); code != 200 {
				t.Fatalf("replayed secret refused: %d", code)
			}
			if res := keyed(s.AdminToken, "tok-1", map[string]any{"name": "other", "role": "viewer"}); res.Status != 409 || res.ErrorCode() != "conflict" {
				t.Fatalf("same key, other input: %d %s", res.Status, res.Body)
			}
			// Keys are the caller's own: another user's same key and input
			// gets its own token, never the first caller's secret.
			dev := s.CreateUser(s.AdminToken, "dev3@example.com", models.RoleDeveloper)
			var c token
			res := keyed(dev.Token, "tok-1", body)
			if err := json.Unmarshal(res.Body, &c); err != nil {
				t.Fatal(err)
			}
			if res.Status != 201 || c.ID == a.ID || c.Token == a.Token || c.UserID != dev.ID {
				t.Fatalf("another user's key: %d %s", res.Status, res.Body)
			}
			// A revoked token's record goes with it: the key makes a new one.
			if res := s.Do(http.MethodDelete, "/v1/tokens/"+a.ID, s.AdminToken, nil); res.Status != 200 {
				t.Fatalf("revoke: %d", res.Status)
			}
			var d token
			if err := json.Unmarshal(keyed(s.AdminToken, "tok-1", body).Body, &d); err != nil {
				t.Fatal(err)
			}
			if d.ID == "" || d.ID == a.ID {
				t.Fatalf("after revoke: %+v", d)
			}
			if res := keyed(s.AdminToken, strings.Repeat("k", 256), body); res.Status != 400 {
				t.Fatalf("long key: %d %s", res.Status, res.Body)
			}
		})
		t.Run("GraphQL", func(t *testing.T) {
			out := s.GraphQL(s.AdminToken, `mutation { createApiToken(input: {name: "gql", role: developer}) { id token role } }`, nil)
			var got struct {
				CreateAPIToken struct {
					ID, Token, Role string
				} `json:"createApiToken"`
			}
			if len(out.Errors) > 0 || json.Unmarshal(out.Data, &got) != nil || !strings.HasPrefix(got.CreateAPIToken.Token, "nat_") {
				t.Fatalf("%s %+v", out.Data, out.Errors)
			}
			if out := s.GraphQL(s.AdminToken, `mutation($id: ID!) { revokeApiToken(id: $id) { id } }`, map[string]any{"id": got.CreateAPIToken.ID}); len(out.Errors) > 0 {
				t.Fatalf("%+v", out.Errors)
			}
			if code := status(s, got.CreateAPIToken.Token); code != 401 {
				t.Fatalf("after GraphQL revoke: %d", code)
			}
			if res := s.Do(http.MethodGet, "/v1/agents", "nat_forged", nil); res.Status != 401 {
				t.Fatalf("forged: %d", res.Status)
			}
			if res := s.Do(http.MethodPost, "/v1/tokens", s.AdminToken, map[string]any{"name": "", "role": "viewer"}); res.Status != 400 || res.ErrorField() != "name" {
				t.Fatalf("empty name: %d %s", res.Status, res.Body)
			}
		})
	})
}
