package runtime_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
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

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/runtime"
	"github.com/neuais/neuais/internal/secrets"
	"github.com/neuais/neuais/models"
)

// binaries serves the test agent (/agent), a text file (/text) and 404s.
var (
	binaries    *httptest.Server
	agentPath   string
	agentSHA256 string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	agent, cleanup, err := apitest.BuildAgent("./testdata/agent")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	agentPath = agent
	agentSHA256, err = fileSHA256(agent)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /agent", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, agent) })
	mux.HandleFunc("GET /text", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "<html>not a binary</html>") })
	binaries = httptest.NewServer(mux)
	defer binaries.Close()
	return m.Run()
}

func fileSHA256(path string) (string, error) {
	out, err := exec.Command("sha256sum", path).Output()
	if err != nil {
		return "", fmt.Errorf("sha256sum: %w", err)
	}
	return strings.Fields(string(out))[0], nil
}

// forEachDB runs test in parallel on SQLite, and on PostgreSQL (a schema
// of its own) when NEUAIS_TEST_DATABASE_URL is set.
func forEachDB(t *testing.T, test func(t *testing.T, db *bun.DB)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		test(t, apitest.MustOpenDB(t, "sqlite:"+filepath.Join(t.TempDir(), "test.db")))
	})
	if os.Getenv(apitest.PostgresEnv) != "" {
		t.Run("postgres", func(t *testing.T) {
			t.Parallel()
			test(t, apitest.MustOpenDB(t, apitest.PostgresURL(t)))
		})
	}
}

// memSink is an in-memory LogSink.
type memSink struct {
	mu    sync.Mutex
	lines []models.LogLine
}

func (s *memSink) Append(line models.LogLine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines = append(s.lines, line)
}

// find returns the first line of agentID whose message contains substr.
func (s *memSink) find(agentID, substr string) (models.LogLine, bool) {
	lines := s.matching(agentID, substr)
	if len(lines) == 0 {
		return models.LogLine{}, false
	}
	return lines[0], true
}

// matching returns the lines of agentID whose message contains substr.
func (s *memSink) matching(agentID, substr string) []models.LogLine {
	s.mu.Lock()
	defer s.mu.Unlock()
	var found []models.LogLine
	for _, l := range s.lines {
		if l.AgentID == agentID && strings.Contains(l.Message, substr) {
			found = append(found, l)
		}
	}
	return found
}

// testEnv is one organization in a database, a bus, a sink and a data
// directory shared by the Managers a test starts.
type testEnv struct {
	t       *testing.T
	db      *bun.DB
	bus     *events.InProcess
	sink    *memSink
	cfg     runtime.Config
	orgID   string
	orgSlug string
	agentEv *events.Subscription
}

// endpoints is the endpoint template of the runtime tests.
var endpoints = func() models.EndpointTemplate {
	t, err := models.ParseEndpointTemplate("http://{name}.{org}.localhost:8000")
	if err != nil {
		panic(err)
	}
	return t
}()

func newTestEnv(t *testing.T, d *bun.DB) *testEnv {
	t.Helper()
	ctx := context.Background()
	org := insertOrg(t, d)
	slug := org.Slug
	bus := events.NewInProcess(0)
	t.Cleanup(func() { bus.Close() })
	sub, err := bus.Subscribe(ctx, events.AgentEventsTopic(org.ID))
	if err != nil {
		t.Fatal(err)
	}
	cfg := defaultConfig(t)
	cfg.AllowPrivateURLs = true // the test binaries are served on 127.0.0.1
	cfg.FetchTimeout = 10 * time.Second
	cfg.StopGrace = 3 * time.Second
	cfg.BackoffBase = 50 * time.Millisecond
	cfg.BackoffMax = 400 * time.Millisecond
	cfg.CrashLoopThreshold = 3
	cfg.CrashLoopWindow = 10 * time.Second
	cfg.ReconcileInterval = 300 * time.Millisecond
	cfg.ReadyAfter = time.Second
	cfg.Secrets = testKeyring
	return &testEnv{t: t, db: d, bus: bus, sink: &memSink{}, orgID: org.ID, orgSlug: slug, agentEv: sub, cfg: cfg}
}

// defaultConfig is the server's default runtime configuration over a
// fresh data directory.
func defaultConfig(t *testing.T) runtime.Config {
	c := config.Default().Runtime()
	c.DataDir = t.TempDir()
	return c
}

// testKeyring seals environments as the agents API does.
var testKeyring = func() *secrets.Keyring {
	k, err := secrets.NewKeyring(make([]byte, 32))
	if err != nil {
		panic(err)
	}
	return k
}()

// insertOrg inserts an organization whose name and slug are random.
func insertOrg(t *testing.T, d *bun.DB) *models.Organization {
	t.Helper()
	slug := models.NewID("org-")
	org := &models.Organization{
		ID: models.NewID(models.PrefixOrganization), Name: slug, Slug: slug,
		Tier: models.TierFree, RateLimit: 100, CreatedAt: models.Now(),
	}
	if _, err := d.NewInsert().Model(org).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	return org
}

// start starts a Manager over the environment, shut down at cleanup.
func (e *testEnv) start() *runtime.Manager {
	e.t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	driver, err := runtime.NewLocalDriver(e.cfg, e.sink, logger)
	if err != nil {
		e.t.Fatal(err)
	}
	m, err := runtime.New(e.db, e.bus, e.sink, driver, e.cfg, logger)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := m.Start(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m.Shutdown(ctx) //nolint:errcheck // a Manager the test shut down already
	})
	return m
}

// createAgent inserts an agent desired running, as the agents API would.
func (e *testEnv) createAgent(m *runtime.Manager, name, binaryURL string, replicas int, env map[string]string, opts ...func(*models.Agent)) *models.Agent {
	e.t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	now := models.Now()
	a := &models.Agent{
		ID: models.NewID(models.PrefixAgent), OrgID: e.orgID, Name: name, Runtime: "go", Region: "local",
		BinaryURL: binaryURL, Replicas: replicas, Environment: env,
		Desired: models.DesiredRunning, Status: models.AgentDeploying,
		Generation: 1, Version: 1, CreatedAt: now, UpdatedAt: now,
	}
	for _, opt := range opts {
		opt(a)
	}
	if err := a.SealEnvironment(testKeyring); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.db.NewInsert().Model(a).Exec(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	m.Reconcile(a.ID)
	return a
}

// update changes an agent's spec as the agents API would: the spec
// columns only, with a new generation.
func (e *testEnv) update(m *runtime.Manager, id string, change func(a *models.Agent)) {
	e.t.Helper()
	ctx := context.Background()
	a := e.agent(id)
	if err := a.OpenEnvironment(testKeyring); err != nil {
		e.t.Fatal(err)
	}
	change(a)
	a.Generation++
	a.Version++
	if err := a.SealEnvironment(testKeyring); err != nil {
		e.t.Fatal(err)
	}
	_, err := e.db.NewUpdate().Model(a).
		Column("binary_url", "binary_sha256", "replicas", "environment", "desired", "generation", "version").
		WherePK().Exec(ctx)
	if err != nil {
		e.t.Fatal(err)
	}
	m.Reconcile(id)
}

func (e *testEnv) agent(id string) *models.Agent {
	e.t.Helper()
	a := new(models.Agent)
	if err := e.db.NewSelect().Model(a).Where("id = ?", id).Scan(context.Background()); err != nil {
		e.t.Fatal(err)
	}
	return a
}

// waitStatus polls until the agent has status and returns it.
func (e *testEnv) waitStatus(id string, status models.AgentStatus) *models.Agent {
	e.t.Helper()
	var a *models.Agent
	apitest.Eventually(e.t, 20*time.Second, "the runtime", func() bool {
		a = e.agent(id)
		return a.Status == status
	}, func() string { return fmt.Sprintf("agent status %q (%s), want %q", a.Status, a.StatusReason, status) })
	return a
}

// waitEvent waits for an agent event of type typ about agentID.
func (e *testEnv) waitEvent(agentID, typ string) events.AgentEvent {
	e.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case msg, ok := <-e.agentEv.C:
			if !ok {
				e.t.Fatalf("event subscription ended: %v", e.agentEv.Err())
			}
			ev := msg.Payload.(events.AgentEvent)
			if msg.Type == typ && ev.Data.AgentID == agentID {
				return ev
			}
		case <-timeout:
			e.t.Fatalf("no %s event for %s", typ, agentID)
		}
	}
}

// waitLog waits for a log line of agentID containing substr.
func (e *testEnv) waitLog(agentID, substr string) models.LogLine {
	e.t.Helper()
	var line models.LogLine
	apitest.Eventually(e.t, 20*time.Second, "the runtime", func() bool {
		var ok bool
		line, ok = e.sink.find(agentID, substr)
		return ok
	}, func() string { return fmt.Sprintf("no log line containing %q", substr) })
	return line
}

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(data), ')')
	return i >= 0 && i+2 < len(data) && data[i+2] != 'Z'
}

// waitReplicasUp waits until agentID has exactly n replicas, all up and alive.
func waitReplicasUp(t *testing.T, m *runtime.Manager, agentID string, n int) []runtime.Replica {
	t.Helper()
	var reps []runtime.Replica
	apitest.Eventually(t, 20*time.Second, "the runtime", func() bool {
		reps = m.Replicas(agentID)
		if len(reps) != n {
			return false
		}
		for _, r := range reps {
			if !r.Up || !alive(r.PID) {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("replicas %+v, want %d up", reps, n) })
	return reps
}

// waitAllDead waits until none of pids is alive.
func waitAllDead(t *testing.T, pids []int) {
	t.Helper()
	apitest.Eventually(t, 20*time.Second, "the runtime", func() bool {
		for _, pid := range pids {
			if alive(pid) {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("processes %v still alive", pids) })
}

func pidsOf(reps []runtime.Replica) []int {
	pids := make([]int, len(reps))
	for i, r := range reps {
		pids[i] = r.PID
	}
	return pids
}
