// Package sdk_test runs the Python and Rust SDKs' own test suites against
// real servers: a platform that runs the live tests' agent, which the child
// can restart through a control endpoint, and a second one whose
// organizations have a small request budget for the 429 tests.
//
// The child gets, in its environment:
//
//	NEUAIS_URL, NEUAIS_TOKEN          the server's root and an admin token
//	NEUAIS_TEST_EMAIL, _PASSWORD      that admin's credentials
//	NEUAIS_TEST_AGENT_URL             a file:// URL of the test agent
//	NEUAIS_TEST_CONTROL               POST /stop, /start, /restart: the server
//	                                  goes down or comes back on the same address
//	                                  and database, answering once done
//	NEUAIS_TEST_LIMITED_URL, _TOKEN   the rate-limited server and a token of an
//	                                  organization allowed NEUAIS_TEST_LIMITED_BUDGET
//	                                  requests per window
//	NEUAIS_TEST_UNAVAILABLE_URL       a proxy of the first server that answers the
//	                                  first request of each method and URL with 503
//	                                  and Retry-After: 1 (apitest.Unavailable)
//	NEUAIS_TEST_INVOICES              how many months of the admin's organization the
//	                                  month close invoiced (apitest.CloseMonths)
//	NEUAIS_TEST_BILLED_BYTES          the network of the last of them
//	NEUAIS_TEST_OTHER_INVOICE         an invoice of another organization
package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/app"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/internal/orgs"
	"github.com/neuais/neuais/models"
)

var agentPath string

func TestMain(m *testing.M) { os.Exit(apitest.RunWithAgent(m, "../live/testdata/agent", &agentPath)) }

// limitedBudget is the requests per window of the rate-limited organizations.
const limitedBudget = 5

// server is a platform served as `neuais serve` serves it (App.Serve, so a
// stop is the graceful shutdown of a SIGTERM), restartable on one address.
type server struct {
	t   testing.TB
	cfg config.Config

	mu     sync.Mutex
	app    *app.App
	cancel context.CancelFunc
	done   chan error
}

func startServer(t testing.TB) *server {
	cfg := apitest.Config("", t.TempDir())
	cfg.RuntimeDriver = config.RuntimeLocal
	cfg.AllowFileURLs = true
	cfg.AllowPrivateWebhookURLs = true // the SDKs' webhook receivers are on 127.0.0.1
	cfg.MetricsInterval = time.Second
	// A fixed secret on one data directory: tokens outlive restarts.
	cfg.JWTSecret = "sdk-test-secret-sdk-test-secret-0123456789"
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	cfg.Addr = ln.Addr().String()
	s := &server{t: t, cfg: cfg}
	if err := s.serve(ln); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s
}

func (s *server) url() string { return "http://" + s.cfg.Addr }

func (s *server) serve(ln net.Listener) error {
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := app.New(context.Background(), s.cfg, logger, io.Discard)
	if err != nil {
		ln.Close()
		return fmt.Errorf("start app: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, ln) }()
	s.app, s.cancel, s.done = a, cancel, done
	return nil
}

// start serves again on the same address; a no-op while serving.
func (s *server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.app != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen again: %w", err)
	}
	return s.serve(ln)
}

// stop shuts down gracefully and closes the app; a no-op while stopped.
func (s *server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.app == nil {
		return nil
	}
	s.cancel()
	err := <-s.done
	err = errors.Join(err, s.app.Close())
	s.app = nil
	return err
}

// control serves the child's POST /stop, /start and /restart.
func (s *server) control(t testing.TB) string {
	mux := http.NewServeMux()
	answer := func(w http.ResponseWriter, err error) {
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
	mux.HandleFunc("POST /stop", func(w http.ResponseWriter, _ *http.Request) { answer(w, s.stop()) })
	mux.HandleFunc("POST /start", func(w http.ResponseWriter, _ *http.Request) { answer(w, s.start()) })
	mux.HandleFunc("POST /restart", func(w http.ResponseWriter, _ *http.Request) {
		err := s.stop()
		if err == nil {
			err = s.start()
		}
		answer(w, err)
	})
	c := httptest.NewServer(mux)
	t.Cleanup(c.Close)
	return c.URL
}

// login returns a token for the bootstrap admin of the server at base.
func login(t testing.TB, base string) string {
	res, err := http.Post(base+"/v1/auth/token", "application/json",
		strings.NewReader(`{"email":"`+apitest.AdminEmail+`","password":"`+apitest.AdminPassword+`"}`))
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("login: %d %v", res.StatusCode, err)
	}
	return tok.AccessToken
}

// limitedServer serves organizations with a budget of limitedBudget
// requests per window. Its configuration is read by config.Load with
// NEUAIS_RATE_LIMIT_WINDOW (default 2s), so a server that has that setting
// counts in short windows and the 429 tests wait seconds; on one without it
// the window is a minute and they wait up to that.
func limitedServer(t testing.TB) *apitest.Server {
	window := os.Getenv("NEUAIS_RATE_LIMIT_WINDOW")
	if window == "" {
		window = "2s"
	}
	env := map[string]string{
		"NEUAIS_ADDR":                 "127.0.0.1:0",
		"NEUAIS_DATA_DIR":             t.TempDir(),
		"NEUAIS_ADMIN_EMAIL":          apitest.AdminEmail,
		"NEUAIS_ADMIN_PASSWORD":       apitest.AdminPassword,
		"NEUAIS_BCRYPT_COST":          "4",
		"NEUAIS_RUNTIME_DRIVER":       config.RuntimeNone,
		"NEUAIS_RATE_LIMIT_MIN":       "0",
		"NEUAIS_ANONYMOUS_RATE_LIMIT": "1000000",
		"NEUAIS_RATE_LIMIT_WINDOW":    window,
	}
	cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatalf("limited server config: %v", err)
	}
	return apitest.StartConfig(t, cfg)
}

// limitedToken makes an organization on s allowed limitedBudget requests
// per window and returns its admin's token.
func limitedToken(t testing.TB, s *apitest.Server, name string) string {
	u := s.CreateOrg(name, name+"-admin@example.com", models.TierFree)
	if _, err := s.App.DB.NewUpdate().Table("organizations").Set("rate_limit = ?", limitedBudget).Where("id = ?", u.OrgID).Exec(context.Background()); err != nil {
		t.Fatalf("lower the rate limit: %v", err)
	}
	return u.Token
}

// billedBytes is the network of the admin's last invoiced month: 123.4 GB,
// whose price (6.17) no binary float holds exactly.
const billedBytes = 123_400_000_000

// invoices has the month close invoice two months of the admin's
// organization and one of another's, whose id it returns.
func (s *server) invoices(t testing.TB) (count int, other string) {
	ctx := context.Background()
	orgID, err := apitest.AdminOrgID(ctx, s.app)
	if err != nil {
		t.Fatal(err)
	}
	invs, err := apitest.CloseMonths(ctx, s.app, orgID, "agt_sdk_billed", 2, billedBytes)
	if err != nil {
		t.Fatal(err)
	}
	org, _, err := s.app.Orgs.Create(ctx, orgs.CreateParams{Name: "other", AdminEmail: "other@example.com", AdminPassword: apitest.UserPassword})
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := apitest.CloseMonths(ctx, s.app, org.ID, "agt_sdk_other", 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	return len(invs), theirs[0].ID
}

// childEnv is the environment of an SDK's test run against fresh servers.
func childEnv(t *testing.T, name string) []string {
	s := startServer(t)
	limited := limitedServer(t)
	count, otherInvoice := s.invoices(t)
	return append(os.Environ(),
		"NEUAIS_URL="+s.url(),
		"NEUAIS_TOKEN="+login(t, s.url()),
		"NEUAIS_TEST_EMAIL="+apitest.AdminEmail,
		"NEUAIS_TEST_PASSWORD="+apitest.AdminPassword,
		"NEUAIS_TEST_AGENT_URL=file://"+agentPath,
		"NEUAIS_TEST_CONTROL="+s.control(t),
		"NEUAIS_TEST_LIMITED_URL="+limited.URL,
		"NEUAIS_TEST_LIMITED_TOKEN="+limitedToken(t, limited, name),
		"NEUAIS_TEST_LIMITED_BUDGET="+strconv.Itoa(limitedBudget),
		"NEUAIS_TEST_UNAVAILABLE_URL="+apitest.Unavailable(t, s.url()),
		"NEUAIS_TEST_INVOICES="+strconv.Itoa(count),
		"NEUAIS_TEST_BILLED_BYTES="+strconv.Itoa(billedBytes),
		"NEUAIS_TEST_OTHER_INVOICE="+otherInvoice,
	)
}

// tool finds a program the SDK tests need: missing, the test is skipped,
// except in CI, where .ci/run installs it.
func tool(t *testing.T, name string) string {
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found: .ci/run installs it", name)
		}
		t.Skipf("%s not found", name)
	}
	return path
}

// runChild runs cmd in dir with env, its output in the test log.
func runChild(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	t.Logf("%s %s:\n%s", filepath.Base(name), strings.Join(args, " "), out)
	if err != nil {
		t.Fatalf("%s %s: %v", filepath.Base(name), strings.Join(args, " "), err)
	}
}

// TestPython runs sdk/python's unittest suite, after mypy --strict.
func TestPython(t *testing.T) {
	t.Parallel()
	python := tool(t, "/usr/bin/python3")
	dir := filepath.Join("..", "..", "sdk", "python")
	if exec.Command(python, "-m", "mypy", "--version").Run() == nil {
		runChild(t, dir, os.Environ(), python, "-m", "mypy", "--strict", "neuais", "tests")
	} else if os.Getenv("CI") != "" {
		t.Fatal("python3-mypy is missing: .ci/run installs it")
	}
	runChild(t, dir, childEnv(t, "python"), python, "-m", "unittest", "-v")
}

// debianCrates is where Debian's librust-*-dev packages put their sources.
const debianCrates = "/usr/share/cargo/registry"

// TestRust runs sdk/rust's cargo test, the crates taken from Debian's
// packages through a source replacement given on the command line, so the
// crate itself builds against crates.io as usual. The build directory
// outlives the run (the user's cache), for warm builds.
func TestRust(t *testing.T) {
	t.Parallel()
	cargo := tool(t, "cargo")
	if _, err := os.Stat(filepath.Join(debianCrates, "reqwest-0.11.13")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("Debian's crates are missing: .ci/run installs them")
		}
		t.Skip("Debian's crates are missing (apt-get install librust-reqwest-dev …)")
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	env := append(childEnv(t, "rust"), "CARGO_TARGET_DIR="+filepath.Join(cache, "neuais", "sdk-rust-target"))
	runChild(t, filepath.Join("..", "..", "sdk", "rust"), env, cargo, "test", "--offline",
		"--config", `source.crates-io.replace-with="debian"`,
		"--config", `source.debian.directory="`+debianCrates+`"`,
		"--", "--test-threads=1")
}
