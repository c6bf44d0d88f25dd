package neuais

import (
	"context"
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
func (s *UsersService) List(ctx context.Context, opts *ListOptions) (*UserList, error) {
	var list UserList
	if err := s.c.do(ctx, http.MethodGet, "/users", opts.values(), nil, &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// Get returns one user.
func (s *UsersService) Get(ctx context.Context, id string) (*User, error) {
	return s.user(ctx, http.MethodGet, "/users/"+url.PathEscape(id), nil)
}

// Create adds a user to the caller's organization.
func (s *UsersService) Create(ctx context.Context, req CreateUserRequest) (*User, error) {
	return s.user(ctx, http.MethodPost, "/users", req)
}

// Update changes the fields given.
func (s *UsersService) Update(ctx context.Context, id string, req UpdateUserRequest) (*User, error) {
	return s.user(ctx, http.MethodPut, "/users/"+url.PathEscape(id), req)
}

// Delete removes a user.
func (s *UsersService) Delete(ctx context.Context, id string) error {
	return s.c.do(ctx, http.MethodDelete, "/users/"+url.PathEscape(id), nil, nil, nil)
}

func (s *UsersService) user(ctx context.Context, method, path string, body any) (*User, error) {
	var u User
	if err := s.c.do(ctx, method, path, nil, body, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// Service is one platform component and its health.
type Service struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Version string `json:"version"`
	Uptime  string `json:"uptime"`
}

// ServicesService calls the /services routes.
type ServicesService struct{ c *Client }

// Services returns the services API.
func (c *Client) Services() *ServicesService { return &ServicesService{c} }

// List returns every component.
func (s *ServicesService) List(ctx context.Context) ([]Service, error) {
	var out struct {
		Services []Service `json:"services"`
	}
	if err := s.c.do(ctx, http.MethodGet, "/services", nil, nil, &out); err != nil {
		return nil, err
	}
	return out.Services, nil
}

// Status returns one component.
func (s *ServicesService) Status(ctx context.Context, name string) (*Service, error) {
	var svc Service
	if err := s.c.do(ctx, http.MethodGet, "/services/"+url.PathEscape(name)+"/status", nil, nil, &svc); err != nil {
		return nil, err
	}
	return &svc, nil
}
