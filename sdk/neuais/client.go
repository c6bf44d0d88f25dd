// Package neuais is the Go client of the neuais REST API (/v1).
//
//	client := neuais.NewClient("your-token")
//	page, err := client.Agents().List(ctx, nil)
package neuais

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultBaseURL is the production API.
const DefaultBaseURL = "https://api.neuais.com/v1"

// Client calls the API with one bearer token. It is safe for concurrent use.
type Client struct {
	baseURL string
	token   string
	http    *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithBaseURL points the client at another server, e.g. http://localhost:8000/v1.
func WithBaseURL(u string) Option {
	return func(c *Client) { c.baseURL = strings.TrimRight(u, "/") }
}

// WithHTTPClient replaces the HTTP client (timeouts, transports, tests).
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) { c.http = h }
}

// NewClient returns a client that sends token as its bearer token.
func NewClient(token string, opts ...Option) *Client {
	c := &Client{baseURL: DefaultBaseURL, token: token, http: &http.Client{Timeout: 60 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Token is an access token from Login.
type Token struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}

// Login exchanges an e-mail and password for a token; opts may set the
// base URL and HTTP client as for NewClient.
func Login(ctx context.Context, email, password string, opts ...Option) (*Token, error) {
	var tok Token
	err := NewClient("", opts...).do(ctx, http.MethodPost, "/auth/token", nil,
		map[string]string{"email": email, "password": password}, &tok)
	if err != nil {
		return nil, err
	}
	return &tok, nil
}

// Error is an error answer of the API: the contract's code (not_found,
// conflict, …), its message and details, and the HTTP status.
type Error struct {
	StatusCode int
	Code       string         `json:"code"`
	Message    string         `json:"message"`
	Details    map[string]any `json:"details,omitempty"`
}

func (e *Error) Error() string {
	if field, ok := e.Details["field"].(string); ok {
		return fmt.Sprintf("neuais: %s (%d): %s [field %s]", e.Code, e.StatusCode, e.Message, field)
	}
	return fmt.Sprintf("neuais: %s (%d): %s", e.Code, e.StatusCode, e.Message)
}

// ListOptions are the paging and ordering options of every list.
type ListOptions struct {
	Limit  int    // 0: the server's default (100)
	Offset int    //
	Sort   string // e.g. "created_at:desc"
	Fields []string
}

func (o *ListOptions) values() url.Values {
	q := url.Values{}
	if o == nil {
		return q
	}
	if o.Limit > 0 {
		q.Set("limit", fmt.Sprint(o.Limit))
	}
	if o.Offset > 0 {
		q.Set("offset", fmt.Sprint(o.Offset))
	}
	if o.Sort != "" {
		q.Set("sort", o.Sort)
	}
	if len(o.Fields) > 0 {
		q.Set("fields", strings.Join(o.Fields, ","))
	}
	return q
}

// Page is the paging part of a list answer.
type Page struct {
	Total   int  `json:"total"`
	Limit   int  `json:"limit"`
	Offset  int  `json:"offset"`
	HasMore bool `json:"has_more"`
}

// do sends one request; body, when not nil, is sent as JSON, and the JSON
// answer is decoded into out when it is not nil.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any, headers ...string) error {
	u := c.baseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("neuais: encode request: %w", err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("neuais: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] != "" {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	res, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("neuais: %s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("neuais: read answer: %w", err)
	}
	if res.StatusCode >= 300 {
		var env struct {
			Error Error `json:"error"`
		}
		if json.Unmarshal(data, &env) != nil || env.Error.Code == "" {
			env.Error = Error{Code: "internal_error", Message: strings.TrimSpace(string(data))}
		}
		env.Error.StatusCode = res.StatusCode
		return &env.Error
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("neuais: decode answer: %w", err)
	}
	return nil
}
