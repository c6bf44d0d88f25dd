package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/neuais/neuais/internal/app"
	"github.com/neuais/neuais/internal/config"
)

// Bootstrap credentials of every test server.
const (
	AdminEmail    = "admin@example.com"
	AdminPassword = "admin-password-1"
)

// Server is a whole platform behind a real listener on 127.0.0.1.
type Server struct {
	*httptest.Server
	App *app.App
	// Instances are every instance behind URL (App alone, or the front's
	// under NEUAIS_TEST_INSTANCES).
	Instances  []*app.App
	AdminToken string
	t          testing.TB
}

// Config returns the test configuration over databaseURL and dataDir:
// fixed admin credentials, the cheapest bcrypt cost and generous rate limits.
func Config(databaseURL, dataDir string) config.Config {
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = dataDir
	cfg.DatabaseURL = databaseURL
	cfg.AdminEmail = AdminEmail
	cfg.AdminPassword = AdminPassword
	cfg.BcryptCost = bcrypt.MinCost
	// Tests share 127.0.0.1 and one organization: limits that tests of
	// limiting lower again.
	cfg.RateLimitMin = 1_000_000
	cfg.LoginMaxFailures = 1_000_000
	// API tests keep agents as the API leaves them; tests of running
	// agents set config.RuntimeLocal.
	cfg.RuntimeDriver = config.RuntimeNone
	return cfg
}

// Start runs a server on databaseURL with a fresh data directory.
// configure, when given, may change the configuration first.
func Start(t testing.TB, databaseURL string, configure ...func(*config.Config)) *Server {
	t.Helper()
	cfg := Config(databaseURL, t.TempDir())
	for _, f := range configure {
		f(&cfg)
	}
	return StartConfig(t, cfg)
}

// StartConfig runs a server with cfg and the collaborators options give;
// it stops when the test ends.
// With NEUAIS_TEST_INSTANCES it may be several instances (see InstancesEnv).
func StartConfig(t testing.TB, cfg config.Config, options ...app.Option) *Server {
	t.Helper()
	if n := instances(cfg.DatabaseURL); n > 1 {
		return startFront(t, cfg, n, options...)
	}
	logger := testLogger(t)
	// Listening first gives the app its real address, which the default
	// endpoint template takes its port from.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	cfg.Addr = ln.Addr().String()
	a, err := app.New(context.Background(), cfg, logger, io.Discard, options...)
	if err != nil {
		ln.Close()
		t.Fatalf("start app: %v", err)
	}
	srv := httptest.NewUnstartedServer(a.Handler())
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	s := &Server{Server: srv, App: a, Instances: []*app.App{a}, t: t}
	t.Cleanup(func() {
		s.Server.Close()
		if err := a.Close(); err != nil {
			t.Errorf("close the server: %v", err)
		}
	})
	s.AdminToken = s.Login(AdminEmail, AdminPassword)
	return s
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

// Response is a finished HTTP exchange with its body read.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into a generic map, failing the test otherwise.
func (r *Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("decode %q: %v", r.Body, err)
	}
	return m
}

// ErrorCode returns error.code of an error envelope, or "".
func (r *Response) ErrorCode() string {
	var env struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &env)
	return env.Error.Code
}

// ErrorField returns error.details.field of an error envelope, or "".
func (r *Response) ErrorField() string {
	var env struct {
		Error struct {
			Details struct {
				Field string `json:"field"`
			} `json:"details"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &env)
	return env.Error.Details.Field
}

// Do sends a request with an optional bearer token and body (a string or
// []byte is sent as is, anything else as JSON).
func (s *Server) Do(method, path, token string, body any, headers ...string) *Response {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewBufferString(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			s.t.Fatalf("encode body: %v", err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		s.t.Fatalf("new request: %v", err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := s.Client().Do(req)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatalf("read body: %v", err)
	}
	return &Response{Status: res.StatusCode, Header: res.Header, Body: data}
}

// Login returns a token for email and password, failing the test otherwise.
func (s *Server) Login(email, password string) string {
	s.t.Helper()
	res := s.Do(http.MethodPost, "/v1/auth/token", "", map[string]string{"email": email, "password": password})
	if res.Status != http.StatusOK {
		s.t.Fatalf("login %s: %d %s", email, res.Status, res.Body)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(res.Body, &tok); err != nil || tok.AccessToken == "" {
		s.t.Fatalf("login %s: %s", email, res.Body)
	}
	return tok.AccessToken
}

// GraphQLResponse is a decoded GraphQL response.
type GraphQLResponse struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Path       []any          `json:"path"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

// Code returns the first error's extensions.code, or "".
func (g *GraphQLResponse) Code() string {
	if len(g.Errors) == 0 {
		return ""
	}
	code, _ := g.Errors[0].Extensions["code"].(string)
	return code
}

// GraphQL posts query with variables to /graphql.
func (s *Server) GraphQL(token, query string, vars map[string]any) *GraphQLResponse {
	s.t.Helper()
	res := s.Do(http.MethodPost, "/graphql", token, map[string]any{"query": query, "variables": vars})
	var out GraphQLResponse
	if err := json.Unmarshal(res.Body, &out); err != nil {
		s.t.Fatalf("graphql: %d %s", res.Status, res.Body)
	}
	return &out
}
