package billing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
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

// Source is what the recorder meters: the runtime's replicas up and its
// endpoint byte counts (runtime.Manager).
type Source interface {
	TakeMetering() []runtime.Metered
	ReturnMetering([]runtime.Metered)
}

// StoredBytes returns an organization's stored bytes (binaries and logs).
type StoredBytes func(ctx context.Context, orgID string) (int64, error)

// Recorder writes billing's durable record on every heartbeat: it opens an
// interval for each replica instance newly up, moves the last-seen time of
// those still up, closes those gone, adds endpoint bytes per day and
// integrates each organization's stored bytes.
type Recorder struct {
	db     *bun.DB
	src    Source
	stored StoredBytes
	clock  Clock
	log    *slog.Logger

	synced   atomic.Bool
	lastSync atomic.Int64 // unix nanoseconds on the clock of the last stored heartbeat
}

// NewRecorder returns a recorder of src into db.
func NewRecorder(db *bun.DB, src Source, stored StoredBytes, clock Clock, logger *slog.Logger) *Recorder {
	return &Recorder{db: db, src: src, stored: stored, clock: clock, log: logger}
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

// Run syncs every interval until ctx ends.
func (r *Recorder) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if err := r.Sync(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("billing: heartbeat", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// LastSync is the clock time of the last stored heartbeat, zero before one.
func (r *Recorder) LastSync() time.Time {
	if n := r.lastSync.Load(); n != 0 {
		return time.Unix(0, n).UTC()
	}
	return time.Time{}
}

// Sync stores one heartbeat. The first one of a recorder closes the
// intervals a previous server left open and whose replicas are not up any
// more at their last-seen time, never later; an instance still up (an
// adopted replica) continues its interval.
func (r *Recorder) Sync(ctx context.Context) error {
	now := r.clock.Now()
	taken := r.src.TakeMetering()
	first := !r.synced.Load()
	if err := r.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		return r.store(ctx, tx, now, taken, first)
	}); err != nil {
		r.src.ReturnMetering(taken)
		return fmt.Errorf("billing: heartbeat: %w", err)
	}
	r.synced.Store(true)
	r.lastSync.Store(now.UnixNano())
	return nil
}

func (r *Recorder) store(ctx context.Context, tx bun.Tx, now time.Time, taken []runtime.Metered, first bool) error {
	var open []interval
	if err := tx.NewSelect().Model(&open).Where("ended_at IS NULL").Scan(ctx); err != nil {
		return err
	}
	up := map[[2]string]string{} // agent, instance → org
	for _, mt := range taken {
		for _, in := range mt.Instances {
			up[[2]string{mt.AgentID, in}] = mt.OrgID
		}
	}
	for _, iv := range open {
		key := [2]string{iv.AgentID, iv.Instance}
		if _, ok := up[key]; ok {
			delete(up, key)
			if _, err := tx.NewUpdate().Model((*interval)(nil)).Set("last_seen_at = ?", now).Where("id = ?", iv.ID).Exec(ctx); err != nil {
				return err
			}
			continue
		}
		end := now
		if first {
			end = iv.LastSeenAt
		}
		if _, err := tx.NewUpdate().Model((*interval)(nil)).Set("ended_at = ?", end).Set("last_seen_at = ?", end).Where("id = ?", iv.ID).Exec(ctx); err != nil {
			return err
		}
	}
	for key, org := range up {
		iv := &interval{OrgID: org, AgentID: key[0], Instance: key[1], StartedAt: now, LastSeenAt: now}
		if _, err := tx.NewInsert().Model(iv).Exec(ctx); err != nil {
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
