package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/models"
)

// Service exchanges credentials for tokens and resolves tokens to identities.
type Service struct {
	db     *bun.DB
	tokens *Tokens
	hasher *Hasher
}

// NewService returns the authentication service.
func NewService(db *bun.DB, tokens *Tokens, hasher *Hasher) *Service {
	return &Service{db: db, tokens: tokens, hasher: hasher}
}

// Hasher returns the password hasher shared with user management.
func (s *Service) Hasher() *Hasher { return s.hasher }

// Token is an issued bearer token.
type Token struct {
	AccessToken string
	TokenType   string
	ExpiresIn   int
}

// Login returns a token for email and password. Unknown e-mail and wrong
// password give the same unauthorized error, in the same time.
func (s *Service) Login(ctx context.Context, email, password string) (*Token, error) {
	var user models.User
	err := s.db.NewSelect().Model(&user).Where("email = ?", strings.ToLower(strings.TrimSpace(email))).Scan(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("auth: load user: %w", err)
	}
	ok, err := s.hasher.Check(user.PasswordHash, password)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, models.Errorf(models.CodeUnauthorized, "Invalid e-mail or password")
	}
	signed, exp, err := s.tokens.Issue(&user)
	if err != nil {
		return nil, err
	}
	return &Token{AccessToken: signed, TokenType: "Bearer", ExpiresIn: int(time.Until(exp).Round(time.Second).Seconds())}, nil
}

// Authenticate verifies a bearer token and returns the identity with the
// user's current role; a token of a deleted user is refused.
func (s *Service) Authenticate(ctx context.Context, raw string) (*models.Identity, error) {
	id, err := s.tokens.Verify(raw)
	if err != nil {
		return nil, err
	}
	var user models.User
	err = s.db.NewSelect().Model(&user).Column("org_id", "role").Where("id = ?", id.UserID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, models.Errorf(models.CodeUnauthorized, "User no longer exists")
	}
	if err != nil {
		return nil, fmt.Errorf("auth: load user: %w", err)
	}
	if user.OrgID != id.OrgID {
		return nil, models.Errorf(models.CodeUnauthorized, "Invalid token claims")
	}
	id.Role = user.Role
	return id, nil
}

// CurrentUser returns the caller's user. Errors: unauthorized.
func (s *Service) CurrentUser(ctx context.Context) (*models.User, error) {
	id, err := models.RequireIdentity(ctx)
	if err != nil {
		return nil, err
	}
	user := new(models.User)
	if err := s.db.NewSelect().Model(user).Where("id = ?", id.UserID).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, models.ErrUnauthorized
		}
		return nil, fmt.Errorf("auth: load user: %w", err)
	}
	return user, nil
}

// SelfTest issues a token for a probe identity and verifies it: it proves
// the secret is loaded and signing and verification agree. It backs the
// "auth" component's health check.
func (s *Service) SelfTest() error {
	probe := &models.User{ID: "usr_probe", OrgID: "org_probe", Role: models.RoleViewer}
	raw, _, err := s.tokens.Issue(probe)
	if err != nil {
		return err
	}
	id, err := s.tokens.Verify(raw)
	if err != nil {
		return fmt.Errorf("auth: verify own token: %w", err)
	}
	if id.UserID != probe.ID {
		return errors.New("auth: token round-trip changed its subject")
	}
	return nil
}
