package neuais_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/internal/logs"
	"github.com/neuais/neuais/sdk/neuais"
)

// recorder is a transport that notes each answer's status and X-RateLimit-Reset.
type recorder struct {
	mu     sync.Mutex
	status []int
	reset  []int64
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(req)
	if err == nil {
		reset, _ := strconv.ParseInt(res.Header.Get("X-RateLimit-Reset"), 10, 64)
		r.mu.Lock()
		r.status, r.reset = append(r.status, res.StatusCode), append(r.reset, reset)
		r.mu.Unlock()
	}
	return res, err
}

func (r *recorder) take() ([]int, []int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s, reset := r.status, r.reset
	r.status, r.reset = nil, nil
	return s, reset
}

// TestRetryOn429 runs on a 2 s rate-limit window with an organization
// limit of 3: a call over the limit waits for Retry-After and succeeds in
// the next window; without retries it returns the 429 with its Retry-After.
func TestRetryOn429(t *testing.T) {
	s := apitest.Start(t, "", func(c *config.Config) { c.RateLimitMin = 0; c.RateLimitWindow = 2 * time.Second })
	if _, err := s.App.DB.NewUpdate().Table("organizations").Set("rate_limit = 3").Where("TRUE").Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	client := connect(t, s, neuais.WithHTTPClient(&http.Client{Transport: rec}))
	noRetry := connect(t, s, neuais.WithRetries(0, 0))
	t.Run("ErrWithoutRetries", func(t *testing.T) {
		for range 10 {
			_, err := noRetry.Services().List()
			if err == nil {
				continue
			}
			if e := apiError(t, err); e.StatusCode != 429 || e.Code != "rate_limit_exceeded" || e.RetryAfter < time.Second || e.RetryAfter > 2*time.Second {
				t.Fatalf("over the limit: %+v", e)
			}
			if rl := noRetry.RateLimit(); rl.Limit != 3 || rl.Remaining != 0 {
				t.Fatalf("RateLimit = %+v", rl)
			}
			return
		}
		t.Fatal("no call refused over a limit of 3")
	})
	t.Run("RetryWaitsForTheWindow", func(t *testing.T) {
		// The window may turn over between calls: go on until one call met a 429.
		for range 10 {
			if _, err := client.Services().List(); err != nil {
				t.Fatal(err)
			}
			status, reset := rec.take()
			if len(status) == 1 {
				continue
			}
			if status[0] != 429 || status[len(status)-1] != 200 {
				t.Fatalf("answers of one call: %v", status)
			}
			// The retry went out once the refusing window had ended.
			if reset[len(reset)-1] <= reset[0] || time.Now().Unix() < reset[0] {
				t.Fatalf("retried within the refusing window: resets %v, now %d", reset, time.Now().Unix())
			}
			return
		}
		t.Fatal("no call met a 429 over a limit of 3")
	})
}

// lossy forwards each request but loses the first answer of each
// Idempotency-Key, as a dropped connection after the server acted would.
type lossy struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (l *lossy) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(req)
	key := req.Header.Get("Idempotency-Key")
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil && key != "" && !l.seen[key] {
		l.seen[key] = true
		if _, err := io.Copy(io.Discard, res.Body); err != nil {
			return nil, err
		}
		res.Body.Close()
		return nil, fmt.Errorf("connection reset (test)")
	}
	return res, err
}

// TestRetryOnConnectionError: a create whose answer is lost is retried
// with the same Idempotency-Key and creates once.
func TestRetryOnConnectionError(t *testing.T) {
	s := apitest.Start(t, "")
	client := connect(t, s, neuais.WithHTTPClient(&http.Client{Transport: &lossy{seen: map[string]bool{}}}))
	a, err := client.Agents().Create(neuais.CreateAgentRequest{Name: "once", Runtime: "go", BinaryURL: "https://example.com/a"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := client.Users().Create(neuais.CreateUserRequest{Email: "once@example.com", Password: "once-password", Role: "viewer"})
	if err != nil {
		t.Fatal(err)
	}
	agents, err := client.Agents().List()
	if err != nil || agents.Total != 1 || agents.Agents[0].ID != a.ID {
		t.Fatalf("List = %+v, %v", agents, err)
	}
	if users, err := client.Users().List(); err != nil || users.Total != 2 || u.ID == "" {
		t.Fatalf("users: %+v, %v", users, err)
	}
	// Uploads and token creates carry keys too; the upload's body is sent again whole.
	data := []byte("#!/bin/sh\necho once\n")
	if b, err := client.Binaries().Upload(neuais.UploadBinaryRequest{Content: bytes.NewReader(data)}); err != nil || b.Size != int64(len(data)) {
		t.Fatalf("Upload = %+v, %v", b, err)
	}
	if tok, err := client.Tokens().Create(neuais.CreateAPITokenRequest{Name: "once", Role: "viewer"}); err != nil || tok.Token == "" {
		t.Fatalf("Create token = %+v, %v", tok, err)
	}
	if tokens, err := client.Tokens().List(); err != nil || tokens.Total != 1 {
		t.Fatalf("tokens: %+v, %v", tokens, err)
	}
	// A restart is not safe to repeat: its lost answer is an error.
	if _, err := neuais.NewClient(s.AdminToken, neuais.WithBaseURL(s.URL), neuais.WithHTTPClient(&http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		return nil, fmt.Errorf("connection reset (test)")
	})})).Agents().Restart(a.ID); err == nil {
		t.Fatal("Restart succeeded without a connection")
	}
}

// TestRetryOn503 goes through apitest.Unavailable, which answers each
// request's first try 503 with Retry-After: 1 and refuses a retry that
// comes sooner: the client waits and succeeds, rewinding an upload's file;
// without retries it returns the 503 with its Retry-After.
func TestRetryOn503(t *testing.T) {
	s := apitest.Start(t, "")
	proxy := apitest.Unavailable(t, s.URL)
	_, err := neuais.NewClient(s.AdminToken, neuais.WithBaseURL(proxy), neuais.WithRetries(0, 0)).Services().List()
	if e := apiError(t, err); e.StatusCode != 503 || e.Code != "service_unavailable" || e.RetryAfter != time.Second {
		t.Fatalf("without retries: %+v", e)
	}
	rec := &recorder{}
	client := neuais.NewClient(s.AdminToken, neuais.WithBaseURL(proxy), neuais.WithHTTPClient(&http.Client{Transport: rec}))
	if svc, err := client.Services().Status("database"); err != nil || svc.Name != "database" {
		t.Fatalf("Status = %+v, %v", svc, err)
	}
	if status, _ := rec.take(); fmt.Sprint(status) != "[503 200]" {
		t.Fatalf("answers: %v", status)
	}
	path := filepath.Join(t.TempDir(), "agent.sh")
	data := []byte("#!/bin/sh\necho retried\n")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := client.Binaries().UploadFile(path)
	if err != nil || b.Size != int64(len(data)) {
		t.Fatalf("UploadFile = %+v, %v", b, err)
	}
	if status, _ := rec.take(); fmt.Sprint(status) != "[503 201]" {
		t.Fatalf("answers: %v", status)
	}
	r, err := connect(t, s).Binaries().Content(b.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("stored %q, %v", got, err)
	}
}

// TestFollowLogsAcrossARestart follows a real agent's log while the server
// is killed and started again on the same address and database: the client
// reconnects with Last-Event-ID and sees exactly the stored lines, none
// lost, none twice.
func TestFollowLogsAcrossARestart(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		cfg := apitest.Config(url, t.TempDir())
		live(&cfg)
		s := apitest.StartConfig(t, cfg)
		cfg.Addr = s.Listener.Addr().String() // the restarted server listens there again
		client := connect(t, s)
		a, err := client.Agents().Create(neuais.CreateAgentRequest{Name: "survivor", Runtime: "go", BinaryURL: agentURL,
			Config: &neuais.AgentConfig{Replicas: 1}, Environment: map[string]string{"TICK_MS": "10"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Agents().Wait(a.ID, "running", 30*time.Second); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var got []string
		for line, err := range client.Agents().FollowLogsContext(ctx, a.ID, &neuais.LogOptions{Tail: 5}) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, line.ID)
			if len(got) == 20 {
				// Killed: its connections cut, then closed, then started again.
				s.CloseClientConnections()
				s.Close()
				if err := s.App.Close(); err != nil {
					t.Fatal(err)
				}
				s = apitest.StartConfig(t, cfg)
			}
			if len(got) == 80 {
				break
			}
		}
		after, _ := strconv.ParseInt(got[0], 10, 64)
		stored, err := s.App.Logs.Query(ctx, a.ID, logs.Filter{AfterID: after - 1, Tail: logs.All})
		if err != nil {
			t.Fatal(err)
		}
		for i, id := range got {
			if i >= len(stored) || strconv.FormatInt(stored[i].ID, 10) != id {
				t.Fatalf("line %d followed has id %s, the stored line there %v: a gap or a repeat (followed %v)", i, id, stored[min(i, len(stored)-1)].ID, got)
			}
		}
	})
}
