// Package neuais is the Go client of the neuais REST API (/v1).
//
//	client := neuais.NewClient("your-token")
//	agents, err := client.Agents().List()
//
// Every method has a …Context twin taking a context (as database/sql's
// Query and QueryContext); the plain one uses the client's context
// (WithContext, else context.Background). The client retries answers 429
// and 503 after their Retry-After, and requests that are safe to repeat
// (reads, PUT, DELETE, and creates, which always carry an Idempotency-Key)
// when the connection fails.
package neuais

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultBaseURL is the server used without WithBaseURL and NEUAIS_URL.
const DefaultBaseURL = "http://localhost:8000"

// Client calls the API with one bearer token. It is safe for concurrent use.
type Client struct {
	baseURL      string // ends in /v1
	token        string
	http         *http.Client
	ctx          context.Context
	maxRetries   int
	maxRetryWait time.Duration

	mu   sync.Mutex
	rate RateLimit
}

// Option configures a Client.
type Option func(*Client)

// WithBaseURL points the client at a server: its root (http://localhost:8000)
// or its /v1. Without it the client reads NEUAIS_URL, else DefaultBaseURL.
func WithBaseURL(u string) Option {
	return func(c *Client) { c.baseURL = apiURL(u) }
}

// WithHTTPClient replaces the HTTP client (timeouts, transports, tests).
// Its Timeout bounds each request, log follows included: leave it 0 to follow.
func WithHTTPClient(h *http.Client) Option {
	return func(c *Client) { c.http = h }
}

// WithContext sets the context of the methods without a context argument.
func WithContext(ctx context.Context) Option {
	return func(c *Client) { c.ctx = ctx }
}

// WithRetries sets how many times one call is retried (default 3; 0: never)
// and the longest Retry-After it waits for (default 1m): a longer one is
// returned as the error at once.
func WithRetries(n int, maxWait time.Duration) Option {
	return func(c *Client) { c.maxRetries, c.maxRetryWait = n, maxWait }
}

// NewClient returns a client that sends token as its bearer token.
func NewClient(token string, opts ...Option) *Client {
	base := os.Getenv("NEUAIS_URL")
	if base == "" {
		base = DefaultBaseURL
	}
	c := &Client{baseURL: apiURL(base), token: token, http: &http.Client{}, ctx: context.Background(), maxRetries: 3, maxRetryWait: time.Minute}
	for _, o := range opts {
		o(c)
	}
	return c
}

// apiURL is the /v1 URL of a server given by its root or its /v1.
func apiURL(u string) string {
	u = strings.TrimRight(u, "/")
	if !strings.HasSuffix(u, "/v1") {
		u += "/v1"
	}
	return u
}

// Token is an access token from Login.
type Token struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
}

// Login exchanges an e-mail and password for a token; opts may set the
// base URL and HTTP client as for NewClient.
// Errors: unauthorized, rate_limit_exceeded (failed logins throttled).
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
// conflict, …), its message and details, the HTTP status and, on 429 and
// 503, the Retry-After the server asked for.
type Error struct {
	StatusCode int            `json:"-"`
	Code       string         `json:"code"`
	Message    string         `json:"message"`
	Details    map[string]any `json:"details"`
	RetryAfter time.Duration  `json:"-"`
}

func (e *Error) Error() string {
	if field, ok := e.Details["field"].(string); ok {
		return fmt.Sprintf("neuais: %s (%d): %s [field %s]", e.Code, e.StatusCode, e.Message, field)
	}
	return fmt.Sprintf("neuais: %s (%d): %s", e.Code, e.StatusCode, e.Message)
}

// RateLimit is the X-RateLimit-* figures of the last answer.
type RateLimit struct {
	Limit     int
	Remaining int
	Reset     time.Time // when the window ends and Remaining is Limit again
}

// RateLimit returns the rate-limit figures of the last answer (zero
// before the first).
func (c *Client) RateLimit() RateLimit {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rate
}

func (c *Client) noteRateLimit(h http.Header) {
	limit, err1 := strconv.Atoi(h.Get("X-RateLimit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	reset, err3 := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return
	}
	c.mu.Lock()
	c.rate = RateLimit{Limit: limit, Remaining: remaining, Reset: time.Unix(reset, 0)}
	c.mu.Unlock()
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
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Offset > 0 {
		q.Set("offset", strconv.Itoa(o.Offset))
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

// first returns the first of opts, or nil.
func first[T any](opts []*T) *T {
	if len(opts) == 0 {
		return nil
	}
	return opts[0]
}

// newIdempotencyKey makes the key of a create that has none, so that its
// retries never create twice.
func newIdempotencyKey() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// do sends one call, retrying as the package comment says; body, when not
// nil, is sent as JSON, and the JSON answer is decoded into out when it is
// not nil. headers are name, value pairs (empty values are left out).
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any, headers ...string) error {
	res, err := c.send(ctx, method, path, query, body, "application/json", headers...)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("neuais: read answer: %w", err)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("neuais: decode answer: %w", err)
	}
	return nil
}

// send sends a call until it gets a successful answer, whose body the
// caller closes, or an error.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, body any, accept string, headers ...string) (*http.Response, error) {
	u := c.baseURL + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	raw, isRaw := body.(*rawBody)
	var data []byte
	if body != nil && !isRaw {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return nil, fmt.Errorf("neuais: encode request: %w", err)
		}
		raw = &rawBody{contentType: "application/json", size: int64(len(data))}
	}
	safe := method == http.MethodGet || method == http.MethodPut || method == http.MethodDelete
	for i := 0; i+1 < len(headers); i += 2 {
		safe = safe || (headers[i] == "Idempotency-Key" && headers[i+1] != "")
	}
	for attempt := 0; ; attempt++ {
		r := io.Reader(bytes.NewReader(data))
		if isRaw {
			var err error
			if r, err = raw.open(attempt); err != nil {
				return nil, err
			}
		}
		req, err := http.NewRequestWithContext(ctx, method, u, r)
		if err != nil {
			return nil, fmt.Errorf("neuais: %w", err)
		}
		req.Header.Set("Accept", accept)
		if raw != nil {
			req.Header.Set("Content-Type", raw.contentType)
			req.ContentLength = raw.size
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
		var wait time.Duration
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, fmt.Errorf("neuais: %s %s: %w", method, path, ctx.Err())
		case err != nil:
			if !safe || attempt >= c.maxRetries || !raw.replayable() {
				return nil, fmt.Errorf("neuais: %s %s: %w", method, path, err)
			}
			wait = backoff(attempt)
		default:
			c.noteRateLimit(res.Header)
			if res.StatusCode < 300 {
				return res, nil
			}
			apiErr := decodeError(res)
			retryable := res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable
			if !retryable || attempt >= c.maxRetries || apiErr.RetryAfter > c.maxRetryWait || !raw.replayable() {
				return nil, apiErr
			}
			wait = apiErr.RetryAfter
			if wait == 0 {
				wait = backoff(attempt)
			}
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("neuais: %s %s: %w", method, path, err)
		}
	}
}

// rawBody is a request body sent as it is (uploads), streamed from r.
type rawBody struct {
	r           io.Reader
	contentType string
	size        int64 // -1: unknown, sent chunked
	start       int64 // where a seekable r began
}

// newRawBody streams r; an io.Seeker is rewound for each retry, and a
// file's or byte reader's length is sent as Content-Length.
func newRawBody(r io.Reader, contentType string) (*rawBody, error) {
	b := &rawBody{r: r, contentType: contentType, size: -1}
	if s, ok := r.(io.Seeker); ok {
		start, err := s.Seek(0, io.SeekCurrent)
		if err != nil {
			return nil, fmt.Errorf("neuais: %w", err)
		}
		end, err := s.Seek(0, io.SeekEnd)
		if err == nil {
			_, err = s.Seek(start, io.SeekStart)
		}
		if err != nil {
			return nil, fmt.Errorf("neuais: %w", err)
		}
		b.start, b.size = start, end-start
	}
	return b, nil
}

// replayable reports whether the body can be sent again: JSON, none, or a
// seekable stream.
func (b *rawBody) replayable() bool {
	if b == nil || b.r == nil {
		return true
	}
	_, ok := b.r.(io.Seeker)
	return ok
}

// open returns the body of attempt, rewinding the stream after the first.
func (b *rawBody) open(attempt int) (io.Reader, error) {
	if attempt > 0 {
		if _, err := b.r.(io.Seeker).Seek(b.start, io.SeekStart); err != nil {
			return nil, fmt.Errorf("neuais: rewind request body: %w", err)
		}
	}
	// NopCloser keeps net/http from closing the caller's file.
	return io.NopCloser(b.r), nil
}

// decodeError reads an error answer and closes its body.
func decodeError(res *http.Response) *Error {
	defer res.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	var env struct {
		Error Error `json:"error"`
	}
	if json.Unmarshal(data, &env) != nil || env.Error.Code == "" {
		env.Error = Error{Code: "internal_error", Message: strings.TrimSpace(string(data))}
	}
	env.Error.StatusCode = res.StatusCode
	if s, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && s >= 0 {
		env.Error.RetryAfter = time.Duration(s) * time.Second
	}
	return &env.Error
}

// backoff is the wait before retry attempt+1 of a failed connection:
// 100 ms doubling, at most 2 s.
func backoff(attempt int) time.Duration {
	return min(100*time.Millisecond<<min(attempt, 5), 2*time.Second)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// IsCode reports whether err is an API error with code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}
