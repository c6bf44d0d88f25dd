package billing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/runtime"
)

// Clock is the time the recorder and the service bill by; tests move it.
type Clock interface{ Now() time.Time }

// SystemClock is the real clock in UTC, to the microsecond both databases keep.
type SystemClock struct{}

// Now returns the current time.
func (SystemClock) Now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Source is what the recorder meters besides transitions: the runtime's
// replica processes running (for adoption on start) and its endpoint byte
// counts (runtime.Manager).
type Source interface {
	TakeMetering() []runtime.Metered
	ReturnMetering([]runtime.Metered)
}

// StoredBytes returns an organization's stored bytes (binaries and logs).
type StoredBytes func(ctx context.Context, orgID string) (int64, error)

// StoredIn is the storage billed: an organization's binaries, as binaries
// counts them (binaries.Service.StoredBytes), and its log messages in db.
func StoredIn(db *bun.DB, binaries StoredBytes) StoredBytes {
	return func(ctx context.Context, orgID string) (int64, error) {
		bins, err := binaries(ctx, orgID)
		if err != nil {
			return 0, err
		}
		var logs sql.NullInt64
		if err := db.NewSelect().Table("agent_logs").ColumnExpr("SUM(bytes)").Where("org_id = ?", orgID).Scan(ctx, &logs); err != nil {
			return 0, fmt.Errorf("billing: stored log bytes: %w", err)
		}
		return bins + logs.Int64, nil
	}
}

// Recorder writes billing's durable record. The runtime's transitions
// (Transition) open a replica process's interval at its start and close
// it at its end, written as they come; a heartbeat (Sync) moves the
// last-seen time of the open ones, adds endpoint bytes per day and
// integrates each organization's stored bytes.
type Recorder struct {
	db     *bun.DB
	src    Source
	stored StoredBytes
	clock  Clock
	log    *slog.Logger

	mu      sync.Mutex
	pending []runtime.Transition // in the order they happened, not yet written
	wake    chan struct{}        // a transition was queued; capacity 1

	write     sync.Mutex   // serializes the recovery, transitions and heartbeats
	recovered bool         // under write: the previous server's intervals are closed
	lastSync  atomic.Int64 // unix nanoseconds on the clock of the last stored heartbeat
}

// NewRecorder returns a recorder of src into db.
func NewRecorder(db *bun.DB, src Source, stored StoredBytes, clock Clock, logger *slog.Logger) *Recorder {
	return &Recorder{db: db, src: src, stored: stored, clock: clock, log: logger, wake: make(chan struct{}, 1)}
}

type interval struct {
	bun.BaseModel `bun:"table:replica_intervals"`
	ID            int64      `bun:"id,pk,autoincrement"`
	OrgID         string     `bun:"org_id"`
	AgentID       string     `bun:"agent_id"`
	Instance      string     `bun:"instance"`
	StartedAt     time.Time  `bun:"started_at"`
	LastSeenAt    time.Time  `bun:"last_seen_at"`
	EndedAt       *time.Time `bun:"ended_at"`
}

type storageRow struct {
	bun.BaseModel `bun:"table:storage_usage"`
	OrgID         string    `bun:"org_id,pk"`
	Period        string    `bun:"period,pk"`
	ByteSeconds   string    `bun:"byte_seconds"`
	Bytes         int64     `bun:"bytes"`
	SampledAt     time.Time `bun:"sampled_at"`
}

// Transition queues a replica process's start or end (runtime.Config.Meter)
// and returns at once; Run writes it promptly, and a failed write is
// retried on the next transition or heartbeat, so none is lost while the
// server lives.
func (r *Recorder) Transition(t runtime.Transition) {
	r.mu.Lock()
	r.pending = append(r.pending, t)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run syncs now and every interval, and writes transitions as they come,
// until ctx ends.
func (r *Recorder) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	r.warn(ctx, "billing: heartbeat", r.Sync(ctx))
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.warn(ctx, "billing: heartbeat", r.Sync(ctx))
		case <-r.wake:
			r.warn(ctx, "billing: transitions", r.Flush(ctx))
		}
	}
}

func (r *Recorder) warn(ctx context.Context, msg string, err error) {
	if err != nil && ctx.Err() == nil {
		r.log.Warn(msg, "err", err)
	}
}

// LastSync is the clock time of the last stored heartbeat, zero before one.
func (r *Recorder) LastSync() time.Time {
	if n := r.lastSync.Load(); n != 0 {
		return time.Unix(0, n).UTC()
	}
	return time.Time{}
}

// Flush writes the queued transitions, in order, in one transaction; on an
// error they stay queued. Before the first Sync they wait: the previous
// server's intervals must be closed first.
func (r *Recorder) Flush(ctx context.Context) error {
	r.write.Lock()
	defer r.write.Unlock()
	return r.flush(ctx)
}

func (r *Recorder) flush(ctx context.Context) error {
	if !r.recovered {
		return nil
	}
	r.mu.Lock()
	batch := slices.Clone(r.pending)
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	if err := r.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		for _, t := range batch {
			if err := r.apply(ctx, tx, t); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("billing: transitions: %w", err)
	}
	r.mu.Lock()
	r.pending = r.pending[len(batch):]
	r.mu.Unlock()
	return nil
}

// apply opens the interval of an instance that started, unless it is open
// already (adopted: it continues), or closes that of one that ended, at the
// transition's time.
func (r *Recorder) apply(ctx context.Context, tx bun.Tx, t runtime.Transition) error {
	at := t.At.UTC().Truncate(time.Microsecond) // what both databases keep
	if !t.Up {
		_, err := tx.NewUpdate().Model((*interval)(nil)).Set("ended_at = ?", at).Set("last_seen_at = ?", at).
			Where("agent_id = ?", t.AgentID).Where("instance = ?", t.Instance).Where("ended_at IS NULL").Exec(ctx)
		return err
	}
	open, err := tx.NewSelect().Model((*interval)(nil)).
		Where("agent_id = ?", t.AgentID).Where("instance = ?", t.Instance).Where("ended_at IS NULL").Exists(ctx)
	if err != nil || open {
		return err
	}
	_, err = tx.NewInsert().Model(&interval{OrgID: t.OrgID, AgentID: t.AgentID, Instance: t.Instance, StartedAt: at, LastSeenAt: at}).Exec(ctx)
	return err
}

// Sync stores one heartbeat. The first one of a recorder closes the
// intervals a previous server left open and whose processes are not
// running any more at their last-seen time, never later (an instance still
// running, adopted, continues its interval), before any transition of this
// server is written. The last-seen times move only once every transition
// queued so far is written, so that a crash never closes an interval after
// its process's end.
func (r *Recorder) Sync(ctx context.Context) error {
	now := r.clock.Now()
	taken := r.src.TakeMetering()
	r.write.Lock()
	defer r.write.Unlock()
	if !r.recovered {
		if err := r.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			return recoverIntervals(ctx, tx, taken)
		}); err != nil {
			r.src.ReturnMetering(taken)
			return fmt.Errorf("billing: heartbeat: %w", err)
		}
		r.recovered = true
	}
	flushed := r.flush(ctx)
	if err := r.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		return r.store(ctx, tx, now, taken, flushed == nil)
	}); err != nil {
		r.src.ReturnMetering(taken)
		return errors.Join(flushed, fmt.Errorf("billing: heartbeat: %w", err))
	}
	r.lastSync.Store(now.UnixNano())
	return flushed
}

// recoverIntervals closes the open intervals of instances not running now
// at their last-seen time.
func recoverIntervals(ctx context.Context, tx bun.Tx, taken []runtime.Metered) error {
	var open []interval
	if err := tx.NewSelect().Model(&open).Where("ended_at IS NULL").Scan(ctx); err != nil {
		return err
	}
	running := map[[2]string]bool{} // agent, instance
	for _, mt := range taken {
		for _, in := range mt.Instances {
			running[[2]string{mt.AgentID, in}] = true
		}
	}
	for _, iv := range open {
		if running[[2]string{iv.AgentID, iv.Instance}] {
			continue
		}
		if _, err := tx.NewUpdate().Model((*interval)(nil)).Set("ended_at = last_seen_at").Where("id = ?", iv.ID).Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (r *Recorder) store(ctx context.Context, tx bun.Tx, now time.Time, taken []runtime.Metered, advance bool) error {
	if advance {
		if _, err := tx.NewUpdate().Model((*interval)(nil)).Set("last_seen_at = ?", now).
			Where("ended_at IS NULL").Where("last_seen_at < ?", now).Exec(ctx); err != nil {
			return err
		}
	}
	day := now.Format(time.DateOnly)
	for _, mt := range taken {
		if mt.NetworkBytes == 0 {
			continue
		}
		if _, err := tx.NewRaw(`INSERT INTO network_usage (org_id, agent_id, day, bytes) VALUES (?, ?, ?, ?)
ON CONFLICT (agent_id, day) DO UPDATE SET bytes = network_usage.bytes + EXCLUDED.bytes`, mt.OrgID, mt.AgentID, day, mt.NetworkBytes).Exec(ctx); err != nil {
			return err
		}
	}
	return r.sampleStorage(ctx, tx, now)
}

// sampleStorage adds each organization's previous stored bytes for the time
// since the previous sample to this month's byte-seconds.
func (r *Recorder) sampleStorage(ctx context.Context, tx bun.Tx, now time.Time) error {
	var orgIDs []string
	if err := tx.NewSelect().Table("organizations").Column("id").Scan(ctx, &orgIDs); err != nil {
		return err
	}
	period := now.Format("2006-01")
	for _, org := range orgIDs {
		bytes, err := r.stored(ctx, org)
		if err != nil {
			return err
		}
		row := &storageRow{OrgID: org, Period: period}
		err = tx.NewSelect().Model(row).WherePK().Scan(ctx)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			row.ByteSeconds, row.Bytes, row.SampledAt = "0", bytes, now
			if _, err := tx.NewInsert().Model(row).Exec(ctx); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		}
		acc, ok := new(big.Int).SetString(row.ByteSeconds, 10)
		if !ok {
			return fmt.Errorf("storage_usage %s %s: byte_seconds %q", org, period, row.ByteSeconds)
		}
		if d := int64(now.Sub(row.SampledAt) / time.Second); d > 0 {
			acc.Add(acc, new(big.Int).Mul(big.NewInt(row.Bytes), big.NewInt(d)))
			row.SampledAt = row.SampledAt.Add(time.Duration(d) * time.Second)
		}
		row.ByteSeconds, row.Bytes = acc.String(), bytes
		if _, err := tx.NewUpdate().Model(row).WherePK().Exec(ctx); err != nil {
			return err
		}
	}
	return nil
}
