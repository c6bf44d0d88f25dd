// Package logs keeps agents' log lines: it publishes each line on the bus
// as it arrives, writes lines to the database in batches, answers queries
// over persisted and not yet written lines alike, follows an agent's log,
// and enforces retention.
package logs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/models"
)

// MessageType is the events.Message Type of a log line; its Payload is a
// *models.LogLine that subscribers must not modify.
const MessageType = events.TypeLogLine

// Config tunes a Store; zero fields take the defaults.
type Config struct {
	// FlushLines starts a write once this many lines wait (default 1000);
	// it is also the row count of one INSERT.
	FlushLines int
	// FlushInterval bounds how long a line waits to be written (default 100ms).
	FlushInterval time.Duration
	// MaxPending bounds the lines kept in memory while the database is
	// unreachable (default 200,000); beyond it lines are published but not stored.
	MaxPending int
	// MaxLinesPerAgent and MaxAge bound what is kept of each agent's log
	// (defaults 10,000 lines and 7 days).
	MaxLinesPerAgent int
	MaxAge           time.Duration
	// RetentionInterval is how often retention runs (default 1 minute).
	RetentionInterval time.Duration
	// PurgeDeleted makes retention also delete the lines of agents no longer
	// in the agents table (deleted, possibly while the server was down).
	PurgeDeleted bool
}

func (c Config) withDefaults() Config {
	if c.FlushLines <= 0 {
		c.FlushLines = 1000
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = 100 * time.Millisecond
	}
	if c.MaxPending <= 0 {
		c.MaxPending = 200_000
	}
	if c.MaxLinesPerAgent <= 0 {
		c.MaxLinesPerAgent = 10_000
	}
	if c.MaxAge <= 0 {
		c.MaxAge = 7 * 24 * time.Hour
	}
	if c.RetentionInterval <= 0 {
		c.RetentionInterval = time.Minute
	}
	return c
}

// tombstoneTTL is how long lines of a deleted agent are still refused: the
// runtime may report a replica's last lines just after the delete.
const tombstoneTTL = time.Hour

// Store is the log store. It implements the runtime's LogSink (Append).
// IDs come from one counter seeded from the table, so one Store writes a
// database at a time.
type Store struct {
	db  *bun.DB
	bus events.Bus
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	nextID   int64
	pending  []models.LogLine // not yet committed, in ID order; the first inFlight are being written
	inFlight int
	touched  map[string]struct{} // agents with lines since the last retention pass
	deleted  map[string]time.Time
	closed   bool

	flushMu   sync.Mutex // held while a batch is written
	kick      chan struct{}
	quit      chan struct{}
	done      chan struct{}
	lastTick  atomic.Int64 // unix nanos of the flusher's last round
	lastErr   atomic.Pointer[string]
	unstored  atomic.Int64 // lines published but not stored (over MaxPending, or after Close)
	retention chan struct{}
}

// Open returns a running Store over a migrated database: it seeds line IDs
// from the table and starts the flusher and the retention loop. Close stops them.
func Open(ctx context.Context, db *bun.DB, bus events.Bus, cfg Config, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Store{
		db: db, bus: bus, cfg: cfg.withDefaults(), log: log.With("component", "logs"),
		touched: map[string]struct{}{}, deleted: map[string]time.Time{},
		kick: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		retention: make(chan struct{}),
	}
	var maxID int64
	if err := db.NewSelect().Model((*models.LogLine)(nil)).ColumnExpr("COALESCE(MAX(id), 0)").Scan(ctx, &maxID); err != nil {
		return nil, fmt.Errorf("logs: seed ids: %w", err)
	}
	s.nextID = maxID + 1
	s.lastTick.Store(time.Now().UnixNano())
	go s.flushLoop()
	go s.retentionLoop()
	return s, nil
}

// Append records one line: it stamps the ID (and the time when zero),
// publishes the line on events.AgentLogsTopic at once and queues it for
// the next batch write. It never blocks on the database.
func (s *Store) Append(line models.LogLine) {
	if line.Timestamp.IsZero() {
		line.Timestamp = models.Now()
	} else {
		line.Timestamp = line.Timestamp.UTC().Truncate(time.Microsecond)
	}
	if line.Level == "" {
		line.Level = models.LevelInfo
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, gone := s.deleted[line.AgentID]; gone {
		return
	}
	line.ID = s.nextID
	s.nextID++
	// Publishing under the lock keeps bus order equal to ID order, which
	// Follow relies on to continue a backlog without gaps.
	published := line
	if err := s.bus.Publish(context.Background(), events.Message{
		Topic: events.AgentLogsTopic(line.AgentID), Type: MessageType, Time: line.Timestamp, Payload: &published,
	}); err != nil && !errors.Is(err, events.ErrClosed) {
		s.log.Warn("publish log line", "agent_id", line.AgentID, "err", err)
	}
	if s.closed || len(s.pending) >= s.cfg.MaxPending {
		s.unstored.Add(1)
		return
	}
	s.pending = append(s.pending, line)
	s.touched[line.AgentID] = struct{}{}
	if len(s.pending)-s.inFlight >= s.cfg.FlushLines {
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
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
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := s.Flush(ctx); err != nil {
			s.log.Error("write log lines", "err", err)
		}
		cancel()
	}
}

// Flush writes every line appended so far. Lines that fail to be written
// stay queued for the next attempt.
func (s *Store) Flush(ctx context.Context) error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	for {
		s.mu.Lock()
		batch := s.pending
		s.inFlight = len(batch)
		s.mu.Unlock()
		if len(batch) == 0 {
			s.lastErr.Store(nil)
			return nil
		}
		err := s.write(ctx, batch)
		s.mu.Lock()
		if err == nil {
			s.pending = slices.Clone(s.pending[len(batch):])
		}
		s.inFlight = 0
		s.mu.Unlock()
		if err != nil {
			msg := err.Error()
			s.lastErr.Store(&msg)
			return err
		}
	}
}

func (s *Store) write(ctx context.Context, lines []models.LogLine) error {
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for chunk := range slices.Chunk(lines, s.cfg.FlushLines) {
			if _, err := tx.NewInsert().Model(&chunk).Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("logs: insert %d lines: %w", len(lines), err)
	}
	return nil
}

// Close stops the background loops and writes every queued line. Lines
// appended afterwards are still published but not stored.
func (s *Store) Close() error {
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

// Query returns an agent's lines that f selects, oldest first, including
// lines not yet written to the database.
func (s *Store) Query(ctx context.Context, agentID string, f Filter) ([]models.LogLine, error) {
	if f.Tail == 0 {
		return nil, nil
	}
	// Memory first, then the database: a batch committed in between is
	// then seen twice (and merged) rather than not at all.
	var mem []models.LogLine
	s.mu.Lock()
	for i := range s.pending {
		if l := &s.pending[i]; l.AgentID == agentID && f.Match(l) {
			mem = append(mem, *l)
		}
	}
	s.mu.Unlock()
	if f.Tail > 0 && len(mem) >= f.Tail {
		return mem[len(mem)-f.Tail:], nil
	}

	var stored []models.LogLine
	q := s.db.NewSelect().Model(&stored).Where("agent_id = ?", agentID).OrderExpr("id DESC")
	if f.AfterID > 0 {
		q = q.Where("id > ?", f.AfterID)
	}
	if f.Level != "" {
		q = q.Where("level IN (?)", bun.In(levelsFrom(f.Level)))
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
	lines := mergeByID(stored, mem)
	if f.Tail > 0 && len(lines) > f.Tail {
		lines = lines[len(lines)-f.Tail:]
	}
	return lines, nil
}

// mergeByID merges two ID-ordered lists, keeping one copy of lines in both.
func mergeByID(a, b []models.LogLine) []models.LogLine {
	out := make([]models.LogLine, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		switch {
		case a[0].ID < b[0].ID:
			out, a = append(out, a[0]), a[1:]
		case a[0].ID > b[0].ID:
			out, b = append(out, b[0]), b[1:]
		default:
			out, a, b = append(out, a[0]), a[1:], b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// DeleteAgent purges an agent's lines, refuses lines the runtime still
// reports for it for a while, and ends its followers with events.ErrAgentDeleted.
func (s *Store) DeleteAgent(ctx context.Context, agentID string) error {
	s.mu.Lock()
	s.deleted[agentID] = time.Now()
	delete(s.touched, agentID)
	kept := s.pending[:s.inFlight:s.inFlight]
	for _, l := range s.pending[s.inFlight:] {
		if l.AgentID != agentID {
			kept = append(kept, l)
		}
	}
	s.pending = kept
	s.mu.Unlock()

	s.flushMu.Lock() // the batch in flight may hold its lines
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
// older than MaxAge, and with PurgeDeleted those of deleted agents. It runs on its own every RetentionInterval.
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
	for a, at := range s.deleted {
		if time.Since(at) > tombstoneTTL {
			delete(s.deleted, a)
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
	return nil
}

// Stats is a snapshot of the store for health checks and benchmarks.
type Stats struct {
	Pending   int       // lines not yet written
	Unstored  int64     // lines published but never stored
	LastRound time.Time // the flusher's last round
	LastError string    // the last write error, "" once a write succeeds
}

// Stats returns the store's current figures.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	pending := len(s.pending)
	s.mu.Unlock()
	st := Stats{Pending: pending, Unstored: s.unstored.Load(), LastRound: time.Unix(0, s.lastTick.Load())}
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
	case st.Pending > s.cfg.MaxPending/2:
		return health.Degraded, fmt.Sprintf("%d log lines waiting to be written", st.Pending)
	}
	return health.Healthy, ""
}
