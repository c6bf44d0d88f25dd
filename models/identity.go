package models

import (
	"context"
	"time"
)

// Role is a user's role within its organization.
type Role string

// Roles, from most to least privileged.
const (
	RoleAdmin     Role = "admin"
	RoleDeveloper Role = "developer"
	RoleViewer    Role = "viewer"
)

// Valid reports whether r is one of the fixed roles.
func (r Role) Valid() bool {
	return r == RoleAdmin || r == RoleDeveloper || r == RoleViewer
}

// CanWrite reports whether r may change agents, logs, metrics and webhooks.
func (r Role) CanWrite() bool { return r == RoleAdmin || r == RoleDeveloper }

// Identity is the authenticated caller of one request.
type Identity struct {
	UserID  string
	OrgID   string
	Role    Role
	TokenID string
	// TokenVersion is the user's TokenVersion the token was issued at.
	TokenVersion int64
	ExpiresAt    time.Time
	// RateLimit is the organization's limit in requests per minute.
	RateLimit int
}

type identityKey struct{}
type authErrorKey struct{}

// WithIdentity returns ctx carrying the caller's identity.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// WithAuthError returns ctx recording why the presented credentials were refused,
// so that operations needing an identity can say why.
func WithAuthError(ctx context.Context, err *Error) context.Context {
	return context.WithValue(ctx, authErrorKey{}, err)
}

// IdentityFrom returns the caller's identity, or nil when unauthenticated.
func IdentityFrom(ctx context.Context) *Identity {
	id, _ := ctx.Value(identityKey{}).(*Identity)
	return id
}

// RequireIdentity returns the caller's identity or an unauthorized error
// that says why the credentials were refused.
func RequireIdentity(ctx context.Context) (*Identity, error) {
	if id := IdentityFrom(ctx); id != nil {
		if !id.ExpiresAt.IsZero() && time.Now().After(id.ExpiresAt) {
			return nil, Errorf(CodeUnauthorized, "Token expired")
		}
		return id, nil
	}
	if err, ok := ctx.Value(authErrorKey{}).(*Error); ok {
		return nil, err
	}
	return nil, ErrUnauthorized
}

// RequireWriter returns the identity when its role may change resources.
func RequireWriter(ctx context.Context) (*Identity, error) {
	id, err := RequireIdentity(ctx)
	if err != nil {
		return nil, err
	}
	if !id.Role.CanWrite() {
		return nil, ErrForbidden
	}
	return id, nil
}

// RequireAdmin returns the identity when it is an admin of its organization.
func RequireAdmin(ctx context.Context) (*Identity, error) {
	id, err := RequireIdentity(ctx)
	if err != nil {
		return nil, err
	}
	if id.Role != RoleAdmin {
		return nil, ErrForbidden
	}
	return id, nil
}
