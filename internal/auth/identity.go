package auth

import (
	"context"
	"errors"
	"strings"

	"github.com/neuais/neuais/models"
)

// Authenticator turns a bearer token into its caller's identity as it
// stands now: the user's current role and organization rate limit, and
// unauthorized when the token has expired, was revoked by a password
// change or belongs to a deleted user. *Service asks the database. Every
// HTTP request, every WebSocket operation and every live stream's periodic
// check goes through the one Authenticator the server is built with, so a
// cache in front of the database goes there.
type Authenticator interface {
	Authenticate(ctx context.Context, raw string) (*models.Identity, error)
}

var _ Authenticator = (*Service)(nil)

type tokenKey struct{}

// Identify returns ctx carrying the identity of bearer token raw, or no
// identity and the reason raw was refused (models.RequireIdentity reports
// it). ctx also keeps raw, so that Refresh can ask about it again. Only an
// internal failure is returned as an error.
func Identify(ctx context.Context, a Authenticator, raw string) (context.Context, error) {
	return identify(context.WithValue(ctx, tokenKey{}, raw), a, raw)
}

// Refresh asks again about the token Identify recorded in ctx, so that a
// role change, a password change or a deletion since then applies to
// operations of a long-lived connection. Without a token ctx is returned
// as it is. Only an internal failure is returned as an error.
func Refresh(ctx context.Context, a Authenticator) (context.Context, error) {
	raw, _ := ctx.Value(tokenKey{}).(string)
	if raw == "" {
		return ctx, nil
	}
	return identify(ctx, a, raw)
}

func identify(ctx context.Context, a Authenticator, raw string) (context.Context, error) {
	id, err := a.Authenticate(ctx, raw)
	if err != nil {
		var coded *models.Error
		if !errors.As(err, &coded) {
			return ctx, err
		}
		// An identity found earlier on ctx no longer holds.
		return models.WithAuthError(models.WithIdentity(ctx, nil), coded), nil
	}
	return models.WithIdentity(ctx, id), nil
}

// ByPrefix returns an Authenticator that hands tokens starting with prefix
// to other and every other token to first: API tokens (nat_…) beside JWTs,
// both through the one identity check.
func ByPrefix(first Authenticator, prefix string, other Authenticator) Authenticator {
	return prefixed{first: first, prefix: prefix, other: other}
}

type prefixed struct {
	first  Authenticator
	prefix string
	other  Authenticator
}

func (p prefixed) Authenticate(ctx context.Context, raw string) (*models.Identity, error) {
	if strings.HasPrefix(raw, p.prefix) {
		return p.other.Authenticate(ctx, raw)
	}
	return p.first.Authenticate(ctx, raw)
}
