package neuais_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/app"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/sdk/neuais"
)

// agentURL is the file:// URL of the test agent (test/live's): it prints
// "line N" every $TICK_MS milliseconds.
var agentURL string

// token is the examples' bearer token, in place of the reference's
// "your-token"; NEUAIS_URL points them at the server TestMain starts.
var token string

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	path, cleanup, err := apitest.BuildAgent("../../test/live/testdata/agent")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	agentURL = "file://" + path
	dir, err := os.MkdirTemp("", "neuais-sdk-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	stop, err := serveExamples(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()
	return m.Run()
}

// live makes a test server run agents for real.
func live(c *config.Config) {
	c.RuntimeDriver = config.RuntimeLocal
	c.AllowFileURLs = true
	c.MetricsInterval = time.Second
}

// serveExamples starts the examples' server (SQLite in dir, real agents,
// an invoiced month), sets NEUAIS_URL to it and logs the admin in.
func serveExamples(dir string) (stop func(), err error) {
	cfg := apitest.Config("sqlite:"+filepath.Join(dir, "test.db"), dir)
	live(&cfg)
	cfg.AllowPrivateWebhookURLs = true // ExampleWebhooksService's receiver is on 127.0.0.1
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	cfg.Addr = ln.Addr().String()
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		ln.Close()
		return nil, err
	}
	srv := &http.Server{Handler: a.Handler()}
	go srv.Serve(ln)
	stop = func() {
		srv.Close()
		a.Close()
	}
	// ExampleBillingService's invoice: last month, closed, with network.
	orgID, err := apitest.AdminOrgID(context.Background(), a)
	if err != nil {
		stop()
		return nil, err
	}
	if _, err := apitest.CloseMonths(context.Background(), a, orgID, "agt_example_billed", 1, billedBytes); err != nil {
		stop()
		return nil, err
	}
	if err := os.Setenv("NEUAIS_URL", "http://"+cfg.Addr); err != nil {
		stop()
		return nil, err
	}
	tok, err := neuais.Login(context.Background(), apitest.AdminEmail, apitest.AdminPassword)
	if err != nil {
		stop()
		return nil, err
	}
	token = tok.AccessToken
	return stop, nil
}

// connect returns a client of s logged in as its admin, with opts.
func connect(t *testing.T, s *apitest.Server, opts ...neuais.Option) *neuais.Client {
	t.Helper()
	return neuais.NewClient(s.AdminToken, append([]neuais.Option{neuais.WithBaseURL(s.URL)}, opts...)...)
}

// apiError returns err as an *neuais.Error, failing the test otherwise.
func apiError(t *testing.T, err error) *neuais.Error {
	t.Helper()
	var e *neuais.Error
	if !errors.As(err, &e) {
		t.Fatalf("want an API error, got %v", err)
	}
	return e
}
