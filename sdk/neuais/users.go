package neuais

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"time"
)

// User is a member of an organization.
type User struct {
	ID             string    `json:"id"`
	Email          string    `json:"email"`
	Role           string    `json:"role"`
	OrganizationID string    `json:"organization_id"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// CreateUserRequest adds a user; Role is admin, developer or viewer.
type CreateUserRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Role     string `json:"role"`
	// IdempotencyKey makes retries of the same create safe; when empty the
	// client makes one for this call.
	IdempotencyKey string `json:"-"`
}

// UpdateUserRequest is a partial change: empty fields stay as they are.
type UpdateUserRequest struct {
	Email    string `json:"email,omitempty"`
	Password string `json:"password,omitempty"`
	Role     string `json:"role,omitempty"`
}

// UserList is one page of users.
type UserList struct {
	Users []User `json:"users"`
	Page
}

// UsersService calls the /users routes.
type UsersService struct{ c *Client }

// Users returns the users API.
func (c *Client) Users() *UsersService { return &UsersService{c} }

// List returns a page of the organization's users (admins only).
func (s *UsersService) List(opts ...*ListOptions) (*UserList, error) {
	return s.ListContext(s.c.ctx, first(opts))
}

// ListContext is List with a context; opts may be nil.
// Errors: forbidden (not an admin), invalid_request (limit, offset, sort, fields).
func (s *UsersService) ListContext(ctx context.Context, opts *ListOptions) (*UserList, error) {
	var list UserList
	if err := s.c.do(ctx, http.MethodGet, "/users", opts.values(), nil, &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// All yields every user, over all pages.
func (s *UsersService) All(opts ...*ListOptions) iter.Seq2[User, error] {
	return s.AllContext(s.c.ctx, first(opts))
}

// AllContext is All with a context; opts may be nil.
func (s *UsersService) AllContext(ctx context.Context, opts *ListOptions) iter.Seq2[User, error] {
	o := ListOptions{}
	if opts != nil {
		o = *opts
	}
	return pages(&o, func() ([]User, Page, error) {
		list, err := s.ListContext(ctx, &o)
		if err != nil {
			return nil, Page{}, err
		}
		return list.Users, list.Page, nil
	})
}

// Get returns one user.
func (s *UsersService) Get(id string) (*User, error) { return s.GetContext(s.c.ctx, id) }

// GetContext is Get with a context. Errors: not_found, forbidden (others than oneself, for non-admins).
func (s *UsersService) GetContext(ctx context.Context, id string) (*User, error) {
	return s.user(ctx, http.MethodGet, "/users/"+url.PathEscape(id), nil)
}

// Create adds a user to the caller's organization.
func (s *UsersService) Create(req CreateUserRequest) (*User, error) {
	return s.CreateContext(s.c.ctx, req)
}

// CreateContext is Create with a context. Errors: invalid_request (email,
// password, role), conflict (e-mail taken; IdempotencyKey reused with
// another request), forbidden (not an admin).
func (s *UsersService) CreateContext(ctx context.Context, req CreateUserRequest) (*User, error) {
	key := req.IdempotencyKey
	if key == "" {
		key = newIdempotencyKey()
	}
	var u User
	if err := s.c.do(ctx, http.MethodPost, "/users", nil, req, &u, "Idempotency-Key", key); err != nil {
		return nil, err
	}
	return &u, nil
}

// Update changes the fields given.
func (s *UsersService) Update(id string, req UpdateUserRequest) (*User, error) {
	return s.UpdateContext(s.c.ctx, id, req)
}

// UpdateContext is Update with a context. Errors: not_found, invalid_request,
// conflict (e-mail taken; demoting the last admin).
func (s *UsersService) UpdateContext(ctx context.Context, id string, req UpdateUserRequest) (*User, error) {
	return s.user(ctx, http.MethodPut, "/users/"+url.PathEscape(id), req)
}

// Delete removes a user; its tokens stop working at once.
func (s *UsersService) Delete(id string) error { return s.DeleteContext(s.c.ctx, id) }

// DeleteContext is Delete with a context. Errors: not_found, conflict (the last admin).
func (s *UsersService) DeleteContext(ctx context.Context, id string) error {
	return s.c.do(ctx, http.MethodDelete, "/users/"+url.PathEscape(id), nil, nil, nil)
}

func (s *UsersService) user(ctx context.Context, method, path string, body any) (*User, error) {
	var u User
	if err := s.c.do(ctx, method, path, nil, body, &u); err != nil {
		return nil, err
	}
	return &u, nil
}
