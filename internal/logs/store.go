// Package logs keeps agents' log lines: it rate-limits each agent's
// output, writes lines to the database in batches and publishes each batch
// on the bus once it is committed (with the ids the database gave), answers
// queries, follows an agent's log, and enforces retention.
package logs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"golang.org/x/time/rate"

	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/models"
)

// MessageType is the events.Message Type of a log line; its Payload is a
// *models.LogLine that subscribers must not modify.
const MessageType = events.TypeLogLine

// Config tunes a Store (config.Default holds the server's values).
type Config struct {
	// FlushLines starts a write once this many lines wait;
	// it is also the row count of one INSERT.
	FlushLines int
	// FlushInterval bounds how long a line waits to be written.
	FlushInterval time.Duration
	// MaxQueueBytes bounds the lines waiting to be written, in bytes of
	// message plus LineOverhead each; lines beyond it, while
	// the database is slow or unreachable, are dropped.
	MaxQueueBytes int64
	// MaxLineBytes cuts longer messages, at a character boundary, and
	// marks them with TruncatedMarker.
	MaxLineBytes int
	// RateLines and RateBytes bound each agent's replica output per second;
	// RateBurst is how many seconds' worth an agent that was quiet may
	// write at once. Lines over the rate are dropped and counted in one
	// platform line per DropReportInterval. Platform lines are never limited.
	RateLines          float64
	RateBytes          float64
	RateBurst          time.Duration
	DropReportInterval time.Duration
	// MaxLinesPerAgent and MaxAge bound what is kept of each agent's log,
	// MaxBytesPerOrg the message bytes kept of all of an organization's
	// agents: retention deletes its oldest lines past it.
	MaxLinesPerAgent int
	MaxAge           time.Duration
	MaxBytesPerOrg   int64
	// RetentionInterval is how often retention runs.
	RetentionInterval time.Duration
	// PurgeDeleted makes retention also delete the lines of agents no longer
	// in the agents table (deleted, possibly while the server was down).
	PurgeDeleted bool
}

// Validate reports every field out of range.
func (c Config) Validate() error {
	var errs []error
	positive := func(ok bool, field string) {
		if !ok {
			errs = append(errs, fmt.Errorf("logs: config: %s must be positive", field))
		}
	}
	positive(c.FlushLines > 0, "FlushLines")
	positive(c.FlushInterval > 0, "FlushInterval")
	positive(c.MaxQueueBytes > 0, "MaxQueueBytes")
	positive(c.MaxLineBytes > 0, "MaxLineBytes")
	positive(c.RateLines > 0, "RateLines")
	positive(c.RateBytes > 0, "RateBytes")
	positive(c.RateBurst > 0, "RateBurst")
	positive(c.DropReportInterval > 0, "DropReportInterval")
	positive(c.MaxLinesPerAgent > 0, "MaxLinesPerAgent")
	positive(c.MaxAge > 0, "MaxAge")
	positive(c.MaxBytesPerOrg > 0, "MaxBytesPerOrg")
	positive(c.RetentionInterval > 0, "RetentionInterval")
	return errors.Join(errs...)
}

// tombstoneTTL is how long lines of a deleted agent are still refused: the
// runtime may report a replica's last lines just after the delete.
const tombstoneTTL = time.Hour

// LineOverhead is what a queued line costs besides its message: the
// struct, its other strings and the slice slot.
const LineOverhead = 160

// TruncatedMarker ends a message cut at MaxLineBytes.
const TruncatedMarker = " …[truncated]"

// writerLockKey identifies the log writer among PostgreSQL advisory locks.
const writerLockKey = 7_461_636_913

// Store is the log store. It implements the runtime's LogSink (Append).
// Line IDs come from the database when a batch is written, and a line is
// published only once its batch is committed, so no follower ever holds
// an ID that a crash could lose or hand out again.
type Store struct {
	db  *bun.DB
	bus events.Bus
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	queue    []models.LogLine // appended, not yet taken by the writer
	queued   int64            // bytes of queue and of the batch being written
	agents   map[string]*agentRate
	dropping map[string]*agentRate // agents with unreported rate-limit drops
	touched  map[string]struct{}   // agents with lines since the last retention pass
	orgs     map[string]struct{}   // their organizations
	deleted  map[string]time.Time
	closed   bool

	flushMu     sync.Mutex // held while a batch is written and published
	kick        chan struct{}
	quit        chan struct{}
	done        chan struct{}
	lastTick    atomic.Int64 // unix nanos of the flusher's last round
	lastErr     atomic.Pointer[string]
	dropped     atomic.Int64 // lines dropped with the queue full or the store closed
	rateLimited atomic.Int64 // lines dropped over an agent's rate
	retention   chan struct{}
}

// agentRate is one agent's token buckets and its drops not yet reported.
type agentRate struct {
	orgID   string
	lines   *rate.Limiter
	bytes   *rate.Limiter
	dropped int64
	since   time.Time // first unreported drop
	seen    time.Time // last line
}

// Open returns a running Store over a migrated database and starts the
// flusher and the retention loop. Close stops them.
func Open(ctx context.Context, db *bun.DB, bus events.Bus, cfg Config, log *slog.Logger) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Store{
		db: db, bus: bus, cfg: cfg, log: log.With("component", "logs"),
		agents: map[string]*agentRate{}, dropping: map[string]*agentRate{},
		touched: map[string]struct{}{}, orgs: map[string]struct{}{}, deleted: map[string]time.Time{},
		kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		retention: make(chan struct{}),
	}
	s.lastTick.Store(time.Now().UnixNano())
	go s.flushLoop()     //nolint:gosec // runs until Close, not for the caller
	go s.retentionLoop() //nolint:gosec // runs until Close, not for the caller
	return s, nil
}

// Append queues one line for the next batch write: it stamps the time
// when zero, cuts the message at MaxLineBytes and drops a replica's line
// over its agent's rate, or any line while the queue is full. It never
// blocks on the database.
func (s *Store) Append(line models.LogLine) {
	now := time.Now()
	if line.Timestamp.IsZero() {
		line.Timestamp = models.Now()
	} else {
		line.Timestamp = line.Timestamp.UTC().Truncate(time.Microsecond)
	}
	if line.Level == "" {
		line.Level = models.LevelInfo
	}
	line.ID = 0
	line.Message = truncate(line.Message, s.cfg.MaxLineBytes)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, gone := s.deleted[line.AgentID]; gone {
		return
	}
	if line.Replica > 0 && !s.allow(&line, now) {
		return
	}
	s.enqueue(line)
}

// allow takes line's tokens from its agent's buckets, or counts it as
// dropped. The drop report goes first once it is due, so that it sits in
// the log where the lines are missing.
func (s *Store) allow(line *models.LogLine, now time.Time) bool {
	a := s.agents[line.AgentID]
	if a == nil {
		burst := s.cfg.RateBurst.Seconds()
		a = &agentRate{
			orgID: line.OrgID,
			lines: rate.NewLimiter(rate.Limit(s.cfg.RateLines), max(1, int(s.cfg.RateLines*burst))),
			// A burst below the longest line would refuse such lines forever.
			bytes: rate.NewLimiter(rate.Limit(s.cfg.RateBytes), max(s.cfg.MaxLineBytes+len(TruncatedMarker), int(s.cfg.RateBytes*burst))),
		}
		s.agents[line.AgentID] = a
	}
	a.seen = now
	ok := a.lines.TokensAt(now) >= 1 && a.bytes.TokensAt(now) >= float64(len(line.Message))
	if ok {
		a.lines.AllowN(now, 1)
		a.bytes.AllowN(now, len(line.Message))
	} else {
		s.rateLimited.Add(1)
		if a.dropped == 0 {
			a.since = now
			s.dropping[line.AgentID] = a
		}
		a.dropped++
	}
	if a.dropped > 0 && now.Sub(a.since) >= s.cfg.DropReportInterval {
		s.reportDropped(line.AgentID, a, now)
	}
	return ok
}

// reportDropped queues the platform line that counts an agent's dropped lines.
func (s *Store) reportDropped(agentID string, a *agentRate, now time.Time) {
	s.enqueue(models.LogLine{
		AgentID: agentID, OrgID: a.orgID, Timestamp: now.UTC().Truncate(time.Microsecond), Level: models.LevelWarn,
		Message: groupThousands(a.dropped) + " lines dropped: log rate limit",
	})
	a.dropped = 0
	delete(s.dropping, agentID)
}

// reportDue reports the drops of agents that went quiet since; with all,
// every agent's drops.
func (s *Store) reportDue(all bool) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for agentID, a := range s.dropping {
		if all || now.Sub(a.since) >= s.cfg.DropReportInterval {
			s.reportDropped(agentID, a, now)
		}
	}
}

func (s *Store) enqueue(line models.LogLine) {
	line.Bytes = int64(len(line.Message))
	size := line.Bytes + LineOverhead
	if s.closed || s.queued+size > s.cfg.MaxQueueBytes {
		s.dropped.Add(1)
		return
	}
	s.queue = append(s.queue, line)
	s.queued += size
	s.touched[line.AgentID] = struct{}{}
	s.orgs[line.OrgID] = struct{}{}
	if len(s.queue) >= s.cfg.FlushLines {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// truncate cuts msg to at most n bytes at a character boundary and marks it.
func truncate(msg string, n int) string {
	if len(msg) <= n {
		return msg
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + TruncatedMarker
}

// groupThousands writes n with a comma between groups of three digits.
func groupThousands(n int64) string {
	digits := strconv.FormatInt(n, 10)
	var b []byte
	for i := range len(digits) {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, digits[i])
	}
	return string(b)
}

func (s *Store) flushLoop() {
	defer close(s.done)
	ticker := time.NewTicker(s.cfg.FlushInterval)
	defer ticker.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-ticker.C:
		case <-s.kick:
		}
		s.lastTick.Store(time.Now().UnixNano())
		s.reportDue(false)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := s.Flush(ctx); err != nil {
			s.log.Error("write log lines", "err", err)
		}
		cancel()
	}
}

// Flush writes every line appended so far, then publishes each on
// events.AgentLogsTopic with its ID. Lines that fail to be written stay
// queued for the next attempt.
func (s *Store) Flush(ctx context.Context) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	for {
		s.mu.Lock()
		batch := s.queue
		s.queue = nil
		s.mu.Unlock()
		if len(batch) == 0 {
			s.lastErr.Store(nil)
			return nil
		}
		if err := s.write(ctx, batch); err != nil {
			s.requeue(batch)
			msg := err.Error()
			s.lastErr.Store(&msg)
			return err
		}
		// One writer publishes batches in commit order, which is ID
		// order: Follow relies on it to continue a backlog without gaps.
		var size int64
		for i := range batch {
			l := &batch[i]
			size += l.Bytes + LineOverhead
			l.Share()
			if err := s.bus.Publish(context.Background(), events.Message{
				Topic: events.AgentLogsTopic(l.AgentID), Type: MessageType, Time: l.Timestamp, Payload: l,
			}); err != nil && !errors.Is(err, events.ErrClosed) {
				s.log.Warn("publish log line", "agent_id", l.AgentID, "err", err)
			}
		}
		s.mu.Lock()
		s.queued -= size
		s.mu.Unlock()
	}
}

// requeue puts a batch that failed back before the lines appended since,
// without those of agents deleted meanwhile.
func (s *Store) requeue(batch []models.LogLine) {
	s.mu.Lock()
	defer s.mu.Unlock()
	batch = slices.DeleteFunc(batch, func(l models.LogLine) bool {
		_, gone := s.deleted[l.AgentID]
		if gone {
			s.queued -= l.Bytes + LineOverhead
		}
		return gone
	})
	for i := range batch {
		batch[i].ID = 0
	}
	s.queue = append(batch, s.queue...)
}

// write inserts lines in one transaction and sets their IDs. On
// PostgreSQL a transaction-scoped advisory lock makes writers of several
// servers take IDs and commit one after the other, so IDs become visible
// in order there too (SQLite has one writer anyway).
func (s *Store) write(ctx context.Context, lines []models.LogLine) error {
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if s.db.Dialect().Name() == dialect.PG {
			if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", writerLockKey); err != nil {
				return err
			}
		}
		ids := make([]int64, 0, s.cfg.FlushLines)
		for chunk := range slices.Chunk(lines, s.cfg.FlushLines) {
			if _, err := tx.NewInsert().Model(&chunk).Returning("id").Exec(ctx); err != nil {
				return err
			}
			// Rows take IDs in VALUES order; RETURNING's order is not promised.
			ids = ids[:0]
			for i := range chunk {
				ids = append(ids, chunk[i].ID)
			}
			slices.Sort(ids)
			for i := range chunk {
				chunk[i].ID = ids[i]
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("logs: insert %d lines: %w", len(lines), err)
	}
	return nil
}

// Close reports pending drops, stops the background loops and writes every
// queued line. Lines appended afterwards are dropped.
func (s *Store) Close() error {
	s.reportDue(true)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.quit)
	<-s.done
	<-s.retention
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return s.Flush(ctx)
}

// Query returns an agent's written lines that f selects, oldest first
// (lines still queued have no ID yet and are not shown).
func (s *Store) Query(ctx context.Context, agentID string, f Filter) ([]models.LogLine, error) {
	if f.Tail == 0 {
		return nil, nil
	}
	var stored []models.LogLine
	q := s.db.NewSelect().Model(&stored).Where("agent_id = ?", agentID).OrderExpr("id DESC")
	if f.AfterID > 0 {
		q = q.Where("id > ?", f.AfterID)
	}
	if f.Level != "" {
		q = q.Where("level IN (?)", bun.List(levelsFrom(f.Level)))
	}
	if !f.Since.IsZero() {
		q = q.Where("timestamp >= ?", f.Since.UTC())
	}
	if f.Tail > 0 {
		q = q.Limit(int64(f.Tail))
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("logs: query: %w", err)
	}
	slices.Reverse(stored)
	return stored, nil
}

// LastTime is the time of the replica's last written line, zero when it
// has none: where a runtime that re-reads its replicas' output resumes.
func (s *Store) LastTime(ctx context.Context, agentID string, replica int) (time.Time, error) {
	var lines []models.LogLine
	err := s.db.NewSelect().Model(&lines).Column("timestamp").
		Where("agent_id = ?", agentID).Where("replica = ?", replica).
		OrderExpr("id DESC").Limit(1).Scan(ctx)
	if err != nil || len(lines) == 0 {
		return time.Time{}, err
	}
	return lines[0].Timestamp, nil
}

// DeleteAgent purges an agent's lines, refuses lines the runtime still
// reports for it for a while, and ends its followers with events.ErrAgentDeleted.
func (s *Store) DeleteAgent(ctx context.Context, agentID string) error {
	s.mu.Lock()
	s.deleted[agentID] = time.Now()
	delete(s.touched, agentID)
	delete(s.agents, agentID)
	delete(s.dropping, agentID)
	s.queue = slices.DeleteFunc(s.queue, func(l models.LogLine) bool {
		if l.AgentID == agentID {
			s.queued -= l.Bytes + LineOverhead
			return true
		}
		return false
	})
	s.mu.Unlock()

	s.flushMu.Lock() // the batch being written may hold its lines
	_, err := s.db.NewDelete().Model((*models.LogLine)(nil)).Where("agent_id = ?", agentID).Exec(ctx)
	s.flushMu.Unlock()
	if pubErr := s.bus.Publish(ctx, events.Message{
		Topic: events.AgentLogsTopic(agentID), Type: events.AgentDeleted, Time: time.Now(),
	}); pubErr != nil && !errors.Is(pubErr, events.ErrClosed) {
		s.log.Warn("publish agent deletion", "agent_id", agentID, "err", pubErr)
	}
	if err != nil {
		return fmt.Errorf("logs: delete agent lines: %w", err)
	}
	return nil
}

func (s *Store) retentionLoop() {
	defer close(s.retention)
	ticker := time.NewTicker(s.cfg.RetentionInterval)
	defer ticker.Stop()
	all := true // the first pass covers agents that wrote before this start
	for {
		select {
		case <-s.quit:
			return
		case <-ticker.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := s.enforceRetention(ctx, all); err != nil {
			s.log.Error("log retention", "err", err)
		} else {
			all = false
		}
		cancel()
	}
}

// EnforceRetention deletes every agent's lines beyond MaxLinesPerAgent and
// older than MaxAge, every organization's oldest lines beyond
// MaxBytesPerOrg, and with PurgeDeleted those of deleted agents. It runs on
// its own every RetentionInterval.
func (s *Store) EnforceRetention(ctx context.Context) error {
	return s.enforceRetention(ctx, true)
}

func (s *Store) enforceRetention(ctx context.Context, allAgents bool) error {
	s.mu.Lock()
	agents := make([]string, 0, len(s.touched))
	for a := range s.touched {
		agents = append(agents, a)
	}
	clear(s.touched)
	orgs := make([]string, 0, len(s.orgs))
	for o := range s.orgs {
		orgs = append(orgs, o)
	}
	clear(s.orgs)
	for a, at := range s.deleted {
		if time.Since(at) > tombstoneTTL {
			delete(s.deleted, a)
		}
	}
	// A bucket idle for a whole burst is full again, as a new one would be.
	for id, a := range s.agents {
		if a.dropped == 0 && time.Since(a.seen) > s.cfg.RateBurst {
			delete(s.agents, id)
		}
	}
	s.mu.Unlock()

	if s.cfg.PurgeDeleted {
		agentIDs := s.db.NewSelect().Model((*models.Agent)(nil)).Column("id")
		if _, err := s.db.NewDelete().Model((*models.LogLine)(nil)).Where("agent_id NOT IN (?)", agentIDs).Exec(ctx); err != nil {
			return fmt.Errorf("logs: delete lines of deleted agents: %w", err)
		}
	}
	cutoff := time.Now().Add(-s.cfg.MaxAge).UTC()
	if _, err := s.db.NewDelete().Model((*models.LogLine)(nil)).Where("timestamp < ?", cutoff).Exec(ctx); err != nil {
		return fmt.Errorf("logs: delete old lines: %w", err)
	}
	if allAgents {
		agents = agents[:0]
		if err := s.db.NewSelect().Model((*models.LogLine)(nil)).Distinct().Column("agent_id").Scan(ctx, &agents); err != nil {
			return fmt.Errorf("logs: list agents: %w", err)
		}
	}
	for _, agentID := range agents {
		oldestKept := s.db.NewSelect().Model((*models.LogLine)(nil)).Column("id").
			Where("agent_id = ?", agentID).OrderExpr("id DESC").Offset(int64(s.cfg.MaxLinesPerAgent - 1)).Limit(1)
		if _, err := s.db.NewDelete().Model((*models.LogLine)(nil)).
			Where("agent_id = ?", agentID).Where("id < (?)", oldestKept).Exec(ctx); err != nil {
			return fmt.Errorf("logs: trim agent %s: %w", agentID, err)
		}
	}
	if allAgents {
		orgs = orgs[:0]
		if err := s.db.NewSelect().Model((*models.LogLine)(nil)).Distinct().Column("org_id").Scan(ctx, &orgs); err != nil {
			return fmt.Errorf("logs: list organizations: %w", err)
		}
	}
	for _, orgID := range orgs {
		if err := s.capOrg(ctx, orgID); err != nil {
			return err
		}
	}
	return nil
}

// capOrg deletes an organization's oldest lines beyond MaxBytesPerOrg.
func (s *Store) capOrg(ctx context.Context, orgID string) error {
	var total int64
	if err := s.db.NewSelect().Model((*models.LogLine)(nil)).ColumnExpr("COALESCE(SUM(bytes), 0)").
		Where("org_id = ?", orgID).Scan(ctx, &total); err != nil {
		return fmt.Errorf("logs: size of organization %s: %w", orgID, err)
	}
	if total <= s.cfg.MaxBytesPerOrg {
		return nil
	}
	// newer is a line's bytes and those of every newer line: the newest
	// line for which it passes the cap is the last one to go.
	window := s.db.NewSelect().Model((*models.LogLine)(nil)).Column("id").
		ColumnExpr("SUM(bytes) OVER (ORDER BY id DESC) AS newer").Where("org_id = ?", orgID)
	lastToGo := s.db.NewSelect().TableExpr("(?) AS w", window).ColumnExpr("MAX(w.id)").Where("w.newer > ?", s.cfg.MaxBytesPerOrg)
	if _, err := s.db.NewDelete().Model((*models.LogLine)(nil)).
		Where("org_id = ?", orgID).Where("id <= (?)", lastToGo).Exec(ctx); err != nil {
		return fmt.Errorf("logs: cap organization %s: %w", orgID, err)
	}
	return nil
}

// Stats is a snapshot of the store for health checks and benchmarks.
type Stats struct {
	Pending     int       // lines queued, not yet taken by the writer
	QueuedBytes int64     // bytes of the lines queued or being written, bounded by MaxQueueBytes
	Dropped     int64     // lines dropped with the queue full or the store closed
	RateLimited int64     // replica lines dropped over their agent's rate
	LastRound   time.Time // the flusher's last round
	LastError   string    // the last write error, "" once a write succeeds
}

// Stats returns the store's current figures.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	pending, queued := len(s.queue), s.queued
	s.mu.Unlock()
	st := Stats{
		Pending: pending, QueuedBytes: queued, Dropped: s.dropped.Load(), RateLimited: s.rateLimited.Load(),
		LastRound: time.Unix(0, s.lastTick.Load()),
	}
	if e := s.lastErr.Load(); e != nil {
		st.LastError = *e
	}
	return st
}

// Health is the store's health.Check: unhealthy when the flusher stalled
// or stopped, degraded while writes fail or lines pile up.
func (s *Store) Health(context.Context) (health.Status, string) {
	st := s.Stats()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	switch {
	case closed:
		return health.Unhealthy, "log store closed"
	case time.Since(st.LastRound) > 10*s.cfg.FlushInterval+5*time.Second:
		return health.Unhealthy, "log writer stalled since " + st.LastRound.UTC().Format(time.RFC3339)
	case st.LastError != "":
		return health.Degraded, fmt.Sprintf("writing log lines fails (%d waiting): %s", st.Pending, st.LastError)
	case st.QueuedBytes > s.cfg.MaxQueueBytes/2:
		return health.Degraded, fmt.Sprintf("%d bytes of log lines waiting to be written", st.QueuedBytes)
	}
	return health.Healthy, ""
}
