package apitest

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/orgs"
	"github.com/neuais/neuais/models"
)

// UserPassword is the password of users made by CreateUser.
const UserPassword = "user-password-1"

// User is a user made for a test, with a token.
type User struct {
	ID, OrgID, Email string
	Role             models.Role
	Token            string
}

// CreateUser creates a user through POST /v1/users with the admin token
// and logs it in.
func (s *Server) CreateUser(adminToken, email string, role models.Role) *User {
	s.t.Helper()
	res := s.Do(http.MethodPost, "/v1/users", adminToken, map[string]string{"email": email, "password": UserPassword, "role": string(role)})
	if res.Status != http.StatusCreated {
		s.t.Fatalf("create user %s: %d %s", email, res.Status, res.Body)
	}
	var u struct {
		ID    string `json:"id"`
		OrgID string `json:"organization_id"`
	}
	if err := json.Unmarshal(res.Body, &u); err != nil {
		s.t.Fatalf("create user: %s", res.Body)
	}
	return &User{ID: u.ID, OrgID: u.OrgID, Email: email, Role: role, Token: s.Login(email, UserPassword)}
}

// CreateOrg creates an organization with an admin, as the CLI does, and
// logs the admin in.
func (s *Server) CreateOrg(name, adminEmail string, tier models.Tier) *User {
	s.t.Helper()
	org, admin, err := s.App.Orgs.Create(context.Background(), orgs.CreateParams{Name: name, Tier: tier, AdminEmail: adminEmail, AdminPassword: UserPassword})
	if err != nil {
		s.t.Fatalf("create org %s: %v", name, err)
	}
	return &User{ID: admin.ID, OrgID: org.ID, Email: admin.Email, Role: models.RoleAdmin, Token: s.Login(adminEmail, UserPassword)}
}

// TokenAt signs a token for u as if issued at the given time, with the
// server's own secret: tokens from the past are expired.
func (s *Server) TokenAt(u *User, at time.Time) string {
	s.t.Helper()
	secret, err := auth.LoadOrCreateSecret(s.App.Config.JWTSecret, s.App.Config.DataDir)
	if err != nil {
		s.t.Fatalf("load secret: %v", err)
	}
	raw, _, err := auth.NewTokens(secret, func() time.Time { return at }).Issue(&models.User{ID: u.ID, OrgID: u.OrgID, Role: u.Role})
	if err != nil {
		s.t.Fatalf("issue token: %v", err)
	}
	return raw
}

// Admin returns the bootstrap admin of the server as a User.
func (s *Server) Admin() *User {
	s.t.Helper()
	me := s.GraphQL(s.AdminToken, `{ me { id organizationId } }`, nil)
	var data struct {
		Me struct {
			ID    string `json:"id"`
			OrgID string `json:"organizationId"`
		} `json:"me"`
	}
	if err := json.Unmarshal(me.Data, &data); err != nil || data.Me.ID == "" {
		s.t.Fatalf("me: %s %+v", me.Data, me.Errors)
	}
	return &User{ID: data.Me.ID, OrgID: data.Me.OrgID, Email: AdminEmail, Role: models.RoleAdmin, Token: s.AdminToken}
}
