package neuais

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"time"
)

// APIToken is a long-lived bearer token for scripts and CI, without its
// secret. It acts with the lower of Role and its creator's current role.
type APIToken struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	UserID     string     `json:"user_id"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"` // to the minute
}

// NewAPIToken is a token just created, with its secret (nat_…), which the
// server shows only this once.
type NewAPIToken struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	UserID    string     `json:"user_id"`
	Token     string     `json:"token"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// CreateAPITokenRequest makes a token for the caller; Role (admin,
// developer, viewer) is at most the caller's, ExpiresAt nil for never.
type CreateAPITokenRequest struct {
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// IdempotencyKey makes retries of the same create safe (keys are each
	// user's own); when empty the client makes one for this call.
	IdempotencyKey string `json:"-"`
}

// APITokenList is one page of tokens.
type APITokenList struct {
	Tokens []APIToken `json:"tokens"`
	Page
}

// TokensService calls the /tokens routes.
type TokensService struct{ c *Client }

// Tokens returns the API tokens API.
func (c *Client) Tokens() *TokensService { return &TokensService{c} }

// Create makes an API token for the caller.
func (s *TokensService) Create(req CreateAPITokenRequest) (*NewAPIToken, error) {
	return s.CreateContext(s.c.ctx, req)
}

// CreateContext is Create with a context. Errors: invalid_request,
// forbidden (a role above the caller's), conflict (IdempotencyKey reused
// with another request).
func (s *TokensService) CreateContext(ctx context.Context, req CreateAPITokenRequest) (*NewAPIToken, error) {
	key := req.IdempotencyKey
	if key == "" {
		key = newIdempotencyKey()
	}
	var tok NewAPIToken
	if err := s.c.do(ctx, http.MethodPost, "/tokens", nil, req, &tok, "Idempotency-Key", key); err != nil {
		return nil, err
	}
	return &tok, nil
}

// List returns a page of tokens: an admin's are all of the organization's,
// others' their own.
func (s *TokensService) List(opts ...*ListOptions) (*APITokenList, error) {
	return s.ListContext(s.c.ctx, first(opts))
}

// ListContext is List with a context; opts may be nil (Sort: created_at,
// name or last_used_at). Errors: invalid_request.
func (s *TokensService) ListContext(ctx context.Context, opts *ListOptions) (*APITokenList, error) {
	var list APITokenList
	if err := s.c.do(ctx, http.MethodGet, "/tokens", opts.values(), nil, &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// All yields every token, over all pages.
func (s *TokensService) All(opts ...*ListOptions) iter.Seq2[APIToken, error] {
	return s.AllContext(s.c.ctx, first(opts))
}

// AllContext is All with a context; opts may be nil.
func (s *TokensService) AllContext(ctx context.Context, opts *ListOptions) iter.Seq2[APIToken, error] {
	o := ListOptions{}
	if opts != nil {
		o = *opts
	}
	return pages(&o, func() ([]APIToken, Page, error) {
		list, err := s.ListContext(ctx, &o)
		if err != nil {
			return nil, Page{}, err
		}
		return list.Tokens, list.Page, nil
	})
}

// Revoke stops a token working from the next request on.
func (s *TokensService) Revoke(id string) error { return s.RevokeContext(s.c.ctx, id) }

// RevokeContext is Revoke with a context. Errors: not_found.
func (s *TokensService) RevokeContext(ctx context.Context, id string) error {
	return s.c.do(ctx, http.MethodDelete, "/tokens/"+url.PathEscape(id), nil, nil, nil)
}
