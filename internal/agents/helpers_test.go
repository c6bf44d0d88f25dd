package agents_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/orgs"
	"github.com/neuais/neuais/models"
)

// tokens holds a token per caller kind of the role tables.
type tokens struct {
	admin, developer, viewer, otherOrg string
}

// mustTokens creates a developer and a viewer in the server's default
// organization and an admin of a second organization, and logs them in.
func mustTokens(t *testing.T, s *apitest.Server) tokens {
	t.Helper()
	ctx := context.Background()
	admin, err := s.App.Auth.Authenticate(ctx, s.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	const password = "test-password-1"
	hash, err := s.App.Auth.Hasher().Hash(password)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		email string
		role  models.Role
	}{{"dev@example.com", models.RoleDeveloper}, {"viewer@example.com", models.RoleViewer}} {
		now := models.Now()
		user := &models.User{ID: models.NewID(models.PrefixUser), OrgID: admin.OrgID, Email: u.email, PasswordHash: hash, Role: u.role, CreatedAt: now, UpdatedAt: now}
		if _, err := s.App.DB.NewInsert().Model(user).Exec(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.App.Orgs.Create(ctx, orgs.CreateParams{Name: "other", AdminEmail: "other@example.com", AdminPassword: password}); err != nil {
		t.Fatal(err)
	}
	return tokens{
		admin:     s.AdminToken,
		developer: s.Login("dev@example.com", password),
		viewer:    s.Login("viewer@example.com", password),
		otherOrg:  s.Login("other@example.com", password),
	}
}

// createBody is the contract's create example.
const createBody = `{"name": "my-agent", "runtime": "rust",
 "binary_url": "https://storage.neuais.com/binaries/my-agent",
 "config": {"cpu": "1.0", "memory": "1Gi", "replicas": 3},
 "environment": {"LOG_LEVEL": "info"}}`

// mustCreate creates an agent named name from the contract's example and
// returns its id.
func mustCreate(t *testing.T, s *apitest.Server, token, name string) string {
	t.Helper()
	body := map[string]any{}
	if err := json.Unmarshal([]byte(createBody), &body); err != nil {
		t.Fatal(err)
	}
	body["name"] = name
	res := s.Do(http.MethodPost, "/v1/agents", token, body)
	if res.Status != http.StatusCreated {
		t.Fatalf("create %s: %d %s", name, res.Status, res.Body)
	}
	id, _ := res.JSON(t)["id"].(string)
	return id
}
