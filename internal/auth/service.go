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
	db       *bun.DB
	tokens   *Tokens
	hasher   *Hasher
	throttle *Throttle
}

// NewService returns the authentication service. throttle slows failed
// logins down; nil disables it.
func NewService(db *bun.DB, tokens *Tokens, hasher *Hasher, throttle *Throttle) *Service {
	return &Service{db: db, tokens: tokens, hasher: hasher, throttle: throttle}
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
// password give the same unauthorized error, in the same time. Failed
// logins slow further attempts down as the Throttle's LoginLimits say
// (per e-mail and address, per address, and e-mail-wide delays that spare
// the owner's known addresses, see models.WithClientAddr): a refused
// attempt checks no password and is rate_limit_exceeded with
// details.retry_after in seconds. While the throttle's store cannot be
// read or written no login is attempted (service_unavailable): an
// uncounted attempt would let password guessing through. Errors:
// unauthorized, rate_limit_exceeded, service_unavailable.
func (s *Service) Login(ctx context.Context, email, password string) (*Token, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	addr := models.ClientAddrFrom(ctx)
	wait, err := s.throttle.Blocked(ctx, email, addr)
	if err != nil {
		return nil, s.throttle.down(ctx, err)
	}
	if wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		return nil, &models.Error{
			Code:    models.CodeRateLimitExceeded,
			Message: fmt.Sprintf("Too many failed logins; try again in %d seconds", secs),
			Details: map[string]any{"retry_after": secs},
		}
	}
	var user models.User
	err = s.db.NewSelect().Model(&user).Where("email = ?", email).Scan(ctx)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("auth: load user: %w", err)
	}
	ok, err := s.hasher.Check(user.PasswordHash, password)
	if err != nil {
		return nil, err
	}
	if !ok {
		if err := s.throttle.Fail(ctx, email, addr); err != nil {
			return nil, s.throttle.down(ctx, err)
		}
		return nil, models.Errorf(models.CodeUnauthorized, "Invalid e-mail or password")
	}
	if err := s.throttle.Succeeded(ctx, email, addr); err != nil {
		return nil, s.throttle.down(ctx, err)
	}
	signed, exp, err := s.tokens.Issue(&user)
	if err != nil {
		return nil, err
	}
	return &Token{AccessToken: signed, TokenType: "Bearer", ExpiresIn: int(time.Until(exp).Round(time.Second).Seconds())}, nil
}

// Authenticate verifies a bearer token and returns the identity with the
// user's current role and its organization's rate limit; a token of a
// deleted user is refused. Errors: unauthorized.
func (s *Service) Authenticate(ctx context.Context, raw string) (*models.Identity, error) {
	id, err := s.tokens.Verify(raw)
	if err != nil {
		return nil, err
	}
	var row struct {
		OrgID        string      `bun:"org_id"`
		Role         models.Role `bun:"role"`
		TokenVersion int64       `bun:"token_version"`
		RateLimit    int         `bun:"rate_limit"`
	}
	err = s.db.NewSelect().TableExpr("users AS u").
		Join("JOIN organizations AS o ON o.id = u.org_id").
		ColumnExpr("u.org_id, u.role, u.token_version, o.rate_limit").
		Where("u.id = ?", id.UserID).Scan(ctx, &row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, models.Errorf(models.CodeUnauthorized, "User no longer exists")
	}
	if err != nil {
		return nil, fmt.Errorf("auth: load user: %w", err)
	}
	if row.OrgID != id.OrgID {
		return nil, models.Errorf(models.CodeUnauthorized, "Invalid token claims")
	}
	if row.TokenVersion != id.TokenVersion {
		return nil, errTokenRevoked
	}
	id.Role = row.Role
	id.RateLimit = row.RateLimit
	return id, nil
}

// errTokenRevoked refuses tokens issued before the user's password changed.
var errTokenRevoked = models.Errorf(models.CodeUnauthorized, "Token revoked: the password has changed since it was issued")

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
	if user.TokenVersion != id.TokenVersion {
		return nil, errTokenRevoked
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
