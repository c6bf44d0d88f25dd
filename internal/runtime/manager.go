package runtime

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/models"
)

// reconcileWorkers bounds how many agents are reconciled at once. A pass
// never waits for a download (see download), so a few workers serve every
// organization.
const reconcileWorkers = 4

// Manager reconciles agents: it reads desired state from the agents table,
// fetches binaries, drives replicas through a Driver, and writes back only
// the actual state (status, status_reason, updated_at), publishing an
// agent.started, agent.stopped or agent.error event on every change.
//
// The agents API bumps Generation on every change and calls Reconcile. A new
// Generation that changes neither binary, environment, limits nor replica
// count is taken as a restart and replaces every replica, one at a time.
type Manager struct {
	db     *bun.DB
	events *events.Log
	sink   LogSink
	cfg    Config
	log    *slog.Logger
	driver Driver
	cache  *binaryCache
	slots  *downloadSlots

	wake     chan struct{} // a trigger was queued; capacity 1
	runCtx   context.Context
	cancel   context.CancelFunc
	workers  sync.WaitGroup
	fetching sync.WaitGroup // downloads in progress
	started  atomic.Bool
	stopped  atomic.Bool
	lastPass atomic.Int64  // unix nanoseconds of the last full reconcile
	lastErr  atomic.Value  // string: why the last full reconcile failed
	proxied  atomic.Uint64 // round robin over recorded addresses of agents run elsewhere
	// remoteBytes is told the bytes proxied to agents run elsewhere.
	remoteBytes func(agentID string, n int64)

	reconcileSeconds prometheus.Histogram

	mu      sync.Mutex
	records map[string]*agentRecord
	queue   []string
	queued  map[string]bool
	busy    map[string]bool
}

// agentRecord is what the Manager remembers about an agent between passes.
type agentRecord struct {
	id        string
	orgID     string
	orgSlug   string // the organization's, for the endpoint host; fixed at its creation
	name      string
	createdAt time.Time
	applied   bool // the driver runs spec
	spec      Spec
	binaryURL string // spec.BinaryPath was fetched from binaryURL with binarySHA expected
	binarySHA string
	// failedGen and failedURL remember a failed fetch so that the periodic
	// pass does not download (and log) it again until the agent changes.
	failedGen    int64
	failedURL    string
	failedReason string
	// download is the binary download under way, or finished and not yet
	// taken by a pass; only the pass holding the agent touches it.
	download *download
	// freshGen is the generation of the last restart or fresh start: a
	// restarting agent is running again once every replica is that new.
	freshGen int64
	// published is what replica_addresses holds for the agent, once
	// written by this Manager; only the pass holding the agent touches it.
	published *string
	network   atomic.Int64 // bytes through the endpoint proxy, in and out
	metered   atomic.Int64 // the same bytes not yet taken by TakeMetering
	next      atomic.Uint64
}

// New returns a Manager that runs agents with driver. Call Start to begin
// reconciling and Shutdown to stop every replica.
func New(db *bun.DB, bus events.Bus, sink LogSink, driver Driver, cfg Config, logger *slog.Logger) (*Manager, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Manager{
		db: db, events: events.NewLog(db, bus, logger), sink: sink, cfg: cfg, log: logger,
		wake:    make(chan struct{}, 1),
		records: map[string]*agentRecord{},
		queued:  map[string]bool{},
		busy:    map[string]bool{},
		slots:   newDownloadSlots(cfg.MaxDownloads, cfg.MaxDownloadsPerOrg),

		reconcileSeconds: newReconcileHistogram(),
	}
	m.lastErr.Store("")
	m.driver = driver
	driver.OnChange(m.Reconcile)
	var err error
	if m.cache, err = newBinaryCache(cfg, db); err != nil {
		return nil, err
	}
	return m, nil
}

// Start recovers from a previous server (stale process groups are killed),
// queues every agent for reconciliation, so that those desired running come
// back, and starts the reconcile workers and the periodic full pass. They
// run until ctx ends or Shutdown is called.
func (m *Manager) Start(ctx context.Context) error {
	if !m.started.CompareAndSwap(false, true) {
		return errors.New("runtime: start: already started")
	}
	if err := m.driver.Recover(ctx); err != nil {
		m.started.Store(false)
		return fmt.Errorf("runtime: start: %w", err)
	}
	if err := m.reconcileAll(ctx); err != nil {
		m.started.Store(false)
		return fmt.Errorf("runtime: start: %w", err)
	}
	ctx, m.cancel = context.WithCancel(ctx)
	m.runCtx = ctx
	for range reconcileWorkers {
		m.workers.Add(1)
		go m.work(ctx)
	}
	m.workers.Add(1)
	go m.tick(ctx)
	return nil
}

// Reconcile queues agentID for reconciliation and returns at once. The
// agents API calls it after every change; a deleted agent's replicas are
// stopped and its binary cache reference dropped.
func (m *Manager) Reconcile(agentID string) {
	m.mu.Lock()
	if !m.queued[agentID] {
		m.queued[agentID] = true
		m.queue = append(m.queue, agentID)
	}
	m.mu.Unlock()
	m.signal()
}

// Shutdown stops the reconciler and every replica, killing those still
// running when ctx ends. Desired state is untouched, so the next Start
// brings the agents back.
func (m *Manager) Shutdown(ctx context.Context) error {
	m.stopLoops()
	if err := m.driver.Shutdown(ctx); err != nil {
		return fmt.Errorf("runtime: shutdown: %w", err)
	}
	return nil
}

// Usage reports an agent's resource use for the metrics sampler: CPU as a
// percentage of one core summed over replicas, resident memory in MiB, and
// the bytes that went through its endpoint since its replicas last started
// (after a stop, or since this Manager started).
func (m *Manager) Usage(agentID string) (cpuPercent float64, memoryMiB float64, networkBytes int64) {
	u := m.driver.Usage(agentID)
	if rec := m.record(agentID); rec != nil {
		networkBytes = rec.network.Load()
	}
	return u.CPUPercent, u.MemoryMiB, networkBytes
}

// Metered is one agent's share of a TakeMetering: the instances of its
// replica processes running now and the endpoint bytes since the previous
// take.
type Metered struct {
	AgentID, OrgID string
	// Instances name each replica process running as its transitions do
	// (see Transition), so that an adopted one is known as the same.
	Instances    []string
	NetworkBytes int64
}

// TakeMetering reports every known agent's replica processes running and
// takes its endpoint byte count since the last call; a caller that fails
// to store the counts gives them back with ReturnMetering.
func (m *Manager) TakeMetering() []Metered {
	type known struct {
		rec   *agentRecord
		orgID string // reconcile writes it under mu
	}
	m.mu.Lock()
	recs := make([]known, 0, len(m.records))
	for _, rec := range m.records {
		recs = append(recs, known{rec, rec.orgID})
	}
	m.mu.Unlock()
	out := make([]Metered, 0, len(recs))
	for _, k := range recs {
		rec := k.rec
		mt := Metered{AgentID: rec.id, OrgID: k.orgID, NetworkBytes: rec.metered.Swap(0)}
		for _, rep := range m.driver.Replicas(rec.id) {
			if rep.Instance != "" {
				mt.Instances = append(mt.Instances, rep.Instance)
			}
		}
		if len(mt.Instances) > 0 || mt.NetworkBytes > 0 {
			out = append(out, mt)
		}
	}
	return out
}

// ReturnMetering gives back byte counts TakeMetering took but the caller
// could not store, so that the next take includes them.
func (m *Manager) ReturnMetering(taken []Metered) {
	for _, mt := range taken {
		if rec := m.record(mt.AgentID); rec != nil {
			rec.metered.Add(mt.NetworkBytes)
		}
	}
}

// Replicas lists the agent's replicas with their pids and ports.
func (m *Manager) Replicas(agentID string) []Replica { return m.driver.Replicas(agentID) }

// HealthCheck returns the check of the "runtime" entry of /v1/services:
// unhealthy when the reconciler is not running or has stalled, degraded
// when it cannot read the agents; the detail counts the managed replicas
// and says whether CPU and memory limits are enforced or advisory.
func (m *Manager) HealthCheck() health.Check {
	return func(context.Context) (health.Status, string) {
		switch {
		case m.stopped.Load():
			return health.Unhealthy, "reconciler stopped"
		case !m.started.Load():
			return health.Unhealthy, "reconciler not started"
		}
		if since := time.Since(time.Unix(0, m.lastPass.Load())); since > 3*m.cfg.ReconcileInterval {
			return health.Unhealthy, fmt.Sprintf("reconciler stalled: last full pass %s ago", since.Round(time.Second))
		}
		if msg := m.lastErr.Load().(string); msg != "" {
			return health.Degraded, msg
		}
		m.mu.Lock()
		ids := slices.Collect(maps.Keys(m.records))
		m.mu.Unlock()
		up, desired := 0, 0
		for _, id := range ids {
			st := m.driver.State(id)
			up, desired = up+st.Up, desired+st.Desired
		}
		safe, isolation := m.driver.Isolation()
		status := health.Healthy
		if !safe {
			status = health.Degraded
		}
		return status, fmt.Sprintf("%d agents, %d of %d replicas up; %s", len(ids), up, desired, isolation)
	}
}

func (m *Manager) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *Manager) stopLoops() {
	m.stopped.Store(true)
	if m.cancel != nil {
		m.cancel()
	}
	m.workers.Wait()
	m.fetching.Wait()
}

// work reconciles queued agents, never one agent in two workers at once.
func (m *Manager) work(ctx context.Context) {
	defer m.workers.Done()
	for {
		id, ok := m.take()
		if !ok {
			select {
			case <-ctx.Done():
				return
			case <-m.wake:
			}
			continue
		}
		m.signal() // more may be waiting for another worker
		passCtx, cancel := context.WithTimeout(ctx, m.cfg.StopGrace+time.Minute)
		start := time.Now()
		m.reconcile(passCtx, id)
		m.observeReconcile(start)
		cancel()
		m.mu.Lock()
		delete(m.busy, id)
		m.mu.Unlock()
		m.signal()
	}
}

// take pops the first queued agent that no worker holds.
func (m *Manager) take() (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, id := range m.queue {
		if !m.busy[id] {
			m.queue = slices.Delete(m.queue, i, i+1)
			delete(m.queued, id)
			m.busy[id] = true
			return id, true
		}
	}
	return "", false
}

func (m *Manager) tick(ctx context.Context) {
	defer m.workers.Done()
	t := time.NewTicker(m.cfg.ReconcileInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.reconcileAll(ctx); err != nil && ctx.Err() == nil {
				m.log.Error("runtime: full reconcile", "err", err)
			}
		}
	}
}

// reconcileAll queues every agent in the table, every agent the Manager
// or its driver still runs and every agent with files in the data
// directory, so that
// agents deleted behind its back, or while the server was down, are
// cleaned up too.
func (m *Manager) reconcileAll(ctx context.Context) error {
	var ids []string
	if err := m.db.NewSelect().Table("agents").Column("id").Scan(ctx, &ids); err != nil {
		m.lastErr.Store("cannot read agents: " + err.Error())
		return fmt.Errorf("list agents: %w", err)
	}
	m.lastErr.Store("")
	m.lastPass.Store(time.Now().UnixNano())
	m.mu.Lock()
	ids = slices.AppendSeq(ids, maps.Keys(m.records))
	m.mu.Unlock()
	ids = append(ids, m.cache.agents()...)
	ids = append(ids, m.driver.Agents()...)
	if dirs, err := os.ReadDir(filepath.Join(m.cfg.DataDir, "agents")); err == nil {
		for _, d := range dirs {
			ids = append(ids, d.Name())
		}
	}
	for _, id := range ids {
		m.Reconcile(id)
	}
	return nil
}

func (m *Manager) record(id string) *agentRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.records[id]
}

// reconcile moves one agent towards its desired state and records its status.
func (m *Manager) reconcile(ctx context.Context, id string) {
	var a models.Agent
	err := m.db.NewSelect().Model(&a).Where("id = ?", id).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		m.forget(ctx, id)
		return
	}
	if err == nil {
		err = a.OpenEnvironment(m.cfg.Secrets)
	}
	if err != nil {
		m.log.Error("runtime: read agent", "agent", id, "err", err)
		return
	}
	m.mu.Lock()
	rec := m.records[id]
	slug := ""
	if rec != nil {
		slug = rec.orgSlug
	}
	m.mu.Unlock()
	if slug == "" {
		if err := m.db.NewSelect().Table("organizations").Column("slug").Where("id = ?", a.OrgID).Scan(ctx, &slug); err != nil {
			m.log.Error("runtime: read organization", "agent", id, "err", err)
			return
		}
	}
	m.mu.Lock()
	if rec = m.records[id]; rec == nil {
		rec = &agentRecord{id: id}
		m.records[id] = rec
	}
	rec.orgID, rec.orgSlug, rec.name, rec.createdAt = a.OrgID, slug, a.Name, a.CreatedAt
	m.mu.Unlock()

	if a.Desired != models.DesiredRunning {
		rec.dropDownload()
		if err := m.driver.Stop(ctx, id); err != nil {
			m.log.Error("runtime: stop agent", "agent", id, "err", err)
		}
		if rec.applied {
			rec.applied = false
			rec.network.Store(0) // Usage counts bytes since the replicas last started
		}
		m.setStatus(ctx, &a, models.AgentStopped, "")
		m.publishAddresses(ctx, rec)
		return
	}
	status, reason := m.run(ctx, &a, rec)
	if ctx.Err() != nil {
		return // shutting down: a cut-short fetch says nothing about the agent
	}
	m.setStatus(ctx, &a, status, reason)
	m.publishAddresses(ctx, rec)
}

// run fetches the binary when it changed, applies the spec and derives
// the status from the replicas.
func (m *Manager) run(ctx context.Context, a *models.Agent, rec *agentRecord) (models.AgentStatus, string) {
	if rec.failedGen == a.Generation && rec.failedURL == a.BinaryURL {
		return models.AgentError, rec.failedReason
	}
	path := rec.spec.BinaryPath
	if !rec.applied || rec.binaryURL != a.BinaryURL || rec.binarySHA != a.BinarySHA256 {
		if a.Status == models.AgentStopped || a.Status == models.AgentStarting {
			m.setStatus(ctx, a, models.AgentDeploying, "")
		}
		d := rec.download
		if d == nil || d.url != a.BinaryURL || d.sha != a.BinarySHA256 {
			rec.dropDownload()
			d = m.startDownload(a)
			rec.download = d
		}
		if !d.finished() {
			return a.Status, a.StatusReason // its end queues the next pass
		}
		rec.download = nil
		if d.err != nil && m.runCtx.Err() != nil {
			return a.Status, a.StatusReason // shutting down: a cut-short fetch says nothing
		}
		if d.err != nil {
			rec.failedGen, rec.failedURL = a.Generation, a.BinaryURL
			rec.failedReason = "Fetching binary failed: " + d.err.Error()
			return models.AgentError, rec.failedReason
		}
		path = d.path
		rec.binaryURL, rec.binarySHA = a.BinaryURL, a.BinarySHA256
	}
	spec := a.RunSpec(path)
	// The cache names a binary by its content's sha256, which a driver
	// whose replicas fetch the binary themselves checks them against, also
	// for a URL the agent gave no checksum for.
	spec.BinarySHA256 = filepath.Base(path)
	restart := rec.applied && spec.Generation != rec.spec.Generation &&
		spec.Replicas == rec.spec.Replicas && spec.SameTemplate(rec.spec)
	if restart || !rec.applied {
		rec.freshGen = spec.Generation
	}
	if err := m.driver.Apply(spec); err != nil {
		return models.AgentError, "Starting replicas failed: " + err.Error()
	}
	if restart {
		if err := m.driver.Restart(a.ID); err != nil {
			return models.AgentError, "Restarting replicas failed: " + err.Error()
		}
	}
	rec.applied, rec.spec = true, spec

	st := m.driver.State(a.ID)
	switch {
	case st.CrashLoop:
		return models.AgentError, "Replicas keep crashing: " + st.LastExit
	case a.Status == models.AgentRestarting && !replaced(m.driver.Replicas(a.ID), st.Desired, rec.freshGen):
		return models.AgentRestarting, ""
	case st.Up >= st.Desired && !restart:
		return models.AgentRunning, ""
	case a.Status == models.AgentRunning:
		return models.AgentRunning, "" // a replica restarting or rolling does not undeploy the agent
	default:
		return models.AgentDeploying, ""
	}
}

// replaced reports whether as many replicas as desired are up and were
// started at generation gen or later. Indexes are not compared: a cluster
// driver's rolling restart leaves new replicas at any free index.
func replaced(reps []Replica, desired int, gen int64) bool {
	n := 0
	for _, r := range reps {
		if r.Up && r.Generation >= gen {
			n++
		}
	}
	return n >= desired
}

// forget stops a deleted agent's replicas and drops its binary and files.
func (m *Manager) forget(ctx context.Context, id string) {
	if rec := m.record(id); rec != nil {
		if d := rec.dropDownload(); d != nil {
			<-d.done // cancelled: soon over, and then it writes no reference after the release below
		}
	}
	stopCtx, cancel := context.WithTimeout(ctx, m.cfg.StopGrace)
	defer cancel()
	if err := m.driver.Stop(stopCtx, id); err != nil {
		m.log.Warn("runtime: deleted agent's replicas were killed", "agent", id, "err", err)
	}
	if err := m.cache.release(id); err != nil {
		m.log.Error("runtime: release binary", "agent", id, "err", err)
	}
	if err := os.RemoveAll(filepath.Join(m.cfg.DataDir, "agents", filepath.Base(id))); err != nil {
		m.log.Error("runtime: remove working directories", "agent", id, "err", err)
	}
	m.mu.Lock()
	delete(m.records, id)
	m.mu.Unlock()
}

// setStatus writes the actual state when it changed, with its event in
// the same transaction, logs it as a platform line and publishes the
// event once committed. It writes only over the generation it was derived
// from: a newer change (a stop, start or restart, which writes its
// transition) has queued another pass. Reaching running, stopped or error
// is agent.started, agent.stopped or agent.error once per transition;
// other changes (deploying, a new reason) are agent.updated.
func (m *Manager) setStatus(ctx context.Context, a *models.Agent, status models.AgentStatus, reason string) {
	if a.Status == status && a.StatusReason == reason {
		return
	}
	now := models.Now()
	previous := a.Status
	event := events.AgentUpdated
	var message, level string
	if status != previous {
		switch status {
		case models.AgentRunning:
			event, message, level = events.AgentStarted, "Agent started", models.LevelInfo
		case models.AgentStopped:
			event, message, level = events.AgentStopped, "Agent stopped", models.LevelInfo
		case models.AgentError:
			event, message, level = events.AgentError, reason, models.LevelError
		}
	}
	written, err := m.events.Change(ctx, func(ctx context.Context, tx *events.Tx) error {
		res, err := tx.NewUpdate().Table("agents").
			Set("status = ?", status).Set("status_reason = ?", reason).Set("updated_at = ?", now).
			Where("id = ?", a.ID).Where("generation = ?", a.Generation).Exec(ctx)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		changed := []string{"status"}
		if status == previous {
			changed = []string{"status_reason"}
		}
		tx.Record(events.AgentEvent{Event: event, Timestamp: now, Data: events.AgentEventData{
			AgentID: a.ID, Name: a.Name, OrgID: a.OrgID, Status: string(status), Reason: reason, Changed: changed,
		}})
		return nil
	})
	if err != nil {
		m.log.Error("runtime: write agent status", "agent", a.ID, "err", err)
		return
	}
	if len(written) == 0 {
		return
	}
	a.Status, a.StatusReason, a.UpdatedAt = status, reason, now
	if message != "" {
		m.sink.Append(models.LogLine{
			AgentID: a.ID, OrgID: a.OrgID, Timestamp: now, Level: level, Message: message,
		})
	}
}
