package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultServer is the server of a client command without --server,
// NEUAIS_URL or a saved login.
const DefaultServer = "http://localhost:8000"

// apiError is an error the API answered, in the contract's envelope.
type apiError struct {
	Status  int
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

func (e *apiError) Error() string {
	msg := e.Code + ": " + e.Message
	if f, ok := e.Details["field"].(string); ok && !strings.Contains(e.Message, f) {
		msg += " (field " + f + ")"
	}
	return msg
}

// connError is a server that cannot be reached.
type connError struct {
	server string
	err    error
}

func (e *connError) Error() string {
	return fmt.Sprintf("cannot reach the server at %s: %v", e.server, e.err)
}
func (e *connError) Unwrap() error { return e.err }

// client calls the REST API of one server with one bearer token.
type client struct {
	server string // root URL, without /v1
	token  string
	http   *http.Client
}

// serverRoot accepts a server's root with or without /v1.
func serverRoot(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", usagef("server URL %q must be http(s)://host[:port]", raw)
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/v1")
	u.RawQuery, u.Fragment = "", ""
	return strings.TrimSuffix(u.String(), "/"), nil
}

// request sends one request; body is JSON unless it is an io.Reader.
func (c *client) request(ctx context.Context, method, path string, body any, header http.Header) (*http.Response, error) {
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd, ct = b, "application/octet-stream"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd, ct = bytes.NewReader(data), "application/json"
	}
	req, err := http.NewRequestWithContext(ctx, method, c.server+"/v1"+path, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if ct != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", ct)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &connError{server: c.server, err: err}
	}
	if res.StatusCode >= 400 {
		defer res.Body.Close()
		return nil, decodeError(res)
	}
	return res, nil
}

func decodeError(res *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	var env struct {
		Error *apiError `json:"error"`
	}
	if json.Unmarshal(data, &env) != nil || env.Error == nil {
		return &apiError{Status: res.StatusCode, Code: "http_" + fmt.Sprint(res.StatusCode), Message: strings.TrimSpace(string(data))}
	}
	env.Error.Status = res.StatusCode
	return env.Error
}

// call sends one request and returns the raw JSON answer.
func (c *client) call(ctx context.Context, method, path string, body any) (json.RawMessage, error) {
	res, err := c.request(ctx, method, path, body, nil)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, &connError{server: c.server, err: err}
	}
	return data, nil
}

// callInto is call decoding into out.
func (c *client) callInto(ctx context.Context, method, path string, body, out any) (json.RawMessage, error) {
	data, err := c.call(ctx, method, path, body)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return nil, fmt.Errorf("unexpected answer from %s: %w", c.server, err)
	}
	return data, nil
}

// session is the saved login: the server and the API token login created.
type session struct {
	Server  string `json:"server"`
	Email   string `json:"email"`
	Token   string `json:"token"`
	TokenID string `json:"token_id"`
}

// sessionPath is the saved login in the user's config directory.
func sessionPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no config directory for the saved login: %w", err)
	}
	return filepath.Join(dir, "neuais", "credentials.json"), nil
}

func loadSession() (*session, error) {
	path, err := sessionPath()
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s := new(session)
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// saveSession writes s with mode 0600 (its directory 0700): it holds a
// bearer token.
func saveSession(s *session) (string, error) {
	path, err := sessionPath()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	data, _ := json.MarshalIndent(s, "", "  ")
	tmp, err := os.CreateTemp(filepath.Dir(path), ".credentials-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(tmp.Name(), path)
}

// progress writes an upload's progress to w, at most ten times a second.
type progress struct {
	w     io.Writer
	r     io.Reader
	total int64
	n     int64
	last  time.Time
}

func (p *progress) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if now := time.Now(); now.Sub(p.last) > 100*time.Millisecond || err == io.EOF {
		p.last = now
		pct := 100.0
		if p.total > 0 {
			pct = float64(p.n) * 100 / float64(p.total)
		}
		width := 30
		fill := int(pct / 100 * float64(width))
		fmt.Fprintf(p.w, "\rUploading [%s%s] %5.1f%% %s", strings.Repeat("=", fill), strings.Repeat(" ", width-fill), pct, humanBytes(p.n))
		if err == io.EOF {
			fmt.Fprintln(p.w)
		}
	}
	return n, err
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
