// Package leader elects the one instance, among those sharing a database,
// that runs the singleton work (the runtime's reconciler, metrics
// sampling, billing's metering and month close, retention sweeps).
//
// It uses a lease row rather than a PostgreSQL advisory lock: the same SQL
// works on SQLite (several processes on one file) and PostgreSQL, a
// per-test schema keeps its own lease (advisory locks are per database),
// and a leader cut off from the database knows when its lease ends and
// steps down by then, where a lock's session may outlive a partition
// until TCP keepalives notice. A SIGKILLed leader's lease simply expires.
// Expiry times come from the instances' clocks: with the local runtime
// driver they are one machine's (Register enforces it); across machines
// they must agree well within the lease (NTP).
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
)

// leaseName names the singleton work's lease row.
const leaseName = "singleton"

// ErrLost is returned by Run when this instance could not renew its lease
// before it ended: another instance may lead now, so the singleton work
// must stop at once (like kube-controller-manager, the server exits).
var ErrLost = errors.New("leader: lease lost")

// Config names this instance and its lease.
type Config struct {
	Instance string
	// Machine identifies the host (see MachineID); Driver is the runtime
	// driver. The local driver's instances must all share one machine.
	Machine, Driver string
	// LocalDriver is the driver that runs replicas on this machine.
	LocalDriver string
	Lease       time.Duration
	Clock       func() time.Time
}

// Elector holds or waits for the lease.
type Elector struct {
	db  *bun.DB
	cfg Config
	log *slog.Logger

	leading    atomic.Bool
	validUntil time.Time // of the lease this instance holds; Try's only
	mu         sync.Mutex
	holder     string
}

// New returns an Elector; Register it, then Run it.
func New(db *bun.DB, cfg Config, logger *slog.Logger) *Elector {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	return &Elector{db: db, cfg: cfg, log: logger}
}

// MachineID identifies this host: /etc/machine-id (or dbus's copy) and
// the hostname, which differ between machines even when images are cloned.
func MachineID() string {
	host, _ := os.Hostname()
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if data, err := os.ReadFile(p); err == nil && len(strings.TrimSpace(string(data))) > 0 {
			return strings.TrimSpace(string(data)) + "/" + host
		}
	}
	return host
}

type instanceRow struct {
	bun.BaseModel `bun:"table:instances"`
	ID            string `bun:"id,pk"`
	Machine       string `bun:"machine"`
	Driver        string `bun:"driver"`
	SeenAtMS      int64  `bun:"seen_at_ms"`
}

// Register records this instance and refuses to start beside a live
// instance (seen within a lease) that runs another driver, or the local
// driver on another machine: local replicas, their process groups and
// their data directory are one machine's.
func (e *Elector) Register(ctx context.Context) error {
	now := e.cfg.Clock()
	var live []instanceRow
	if err := e.db.NewSelect().Model(&live).Where("id <> ?", e.cfg.Instance).
		Where("seen_at_ms >= ?", now.Add(-e.cfg.Lease).UnixMilli()).Scan(ctx); err != nil {
		return fmt.Errorf("leader: read instances: %w", err)
	}
	for _, o := range live {
		if o.Driver != e.cfg.Driver {
			return fmt.Errorf("leader: instance %s on this database runs the runtime driver %q, this one %q: every instance must run the same driver", o.ID, o.Driver, e.cfg.Driver)
		}
		if e.cfg.Driver == e.cfg.LocalDriver && o.Machine != e.cfg.Machine {
			return fmt.Errorf("leader: instance %s runs the local runtime driver on machine %s and this one on %s, over one database: the local driver runs agents on one machine only (use a cluster driver such as Kubernetes to spread them)", o.ID, o.Machine, e.cfg.Machine)
		}
	}
	return e.heartbeat(ctx, now)
}

func (e *Elector) heartbeat(ctx context.Context, now time.Time) error {
	row := instanceRow{ID: e.cfg.Instance, Machine: e.cfg.Machine, Driver: e.cfg.Driver, SeenAtMS: now.UnixMilli()}
	if _, err := e.db.NewInsert().Model(&row).On("CONFLICT (id) DO UPDATE").
		Set("machine = EXCLUDED.machine").Set("driver = EXCLUDED.driver").Set("seen_at_ms = EXCLUDED.seen_at_ms").
		Exec(ctx); err != nil {
		return fmt.Errorf("leader: record instance: %w", err)
	}
	return nil
}

// TryAcquire takes or renews the lease, reporting whether this instance
// holds it until now+Lease.
func (e *Elector) TryAcquire(ctx context.Context) (bool, error) {
	now := e.cfg.Clock()
	res, err := e.db.NewRaw(`INSERT INTO leases (name, holder, expires_at_ms) VALUES (?, ?, ?)
ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at_ms = EXCLUDED.expires_at_ms
WHERE leases.holder = EXCLUDED.holder OR leases.expires_at_ms < ?`,
		leaseName, e.cfg.Instance, now.Add(e.cfg.Lease).UnixMilli(), now.UnixMilli()).Exec(ctx)
	if err != nil {
		return false, fmt.Errorf("leader: acquire: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("leader: acquire: %w", err)
	}
	if n == 1 {
		e.setHolder(e.cfg.Instance)
		return true, nil
	}
	var holder string
	if err := e.db.NewSelect().Table("leases").Column("holder").Where("name = ?", leaseName).Scan(ctx, &holder); err == nil {
		e.setHolder(holder)
	}
	return false, nil
}

func (e *Elector) setHolder(h string) {
	e.mu.Lock()
	e.holder = h
	e.mu.Unlock()
}

// Leading reports whether this instance runs the singleton work.
func (e *Elector) Leading() bool { return e.leading.Load() }

// Holder names the instance that held the lease when last looked at.
func (e *Elector) Holder() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.holder
}

// Try renews this instance's record and the lease, or tries to take the
// lease. When it takes the lease it marks this instance leading and calls
// lead (which must return soon: it starts the singleton work). A leader
// that could not renew and whose lease is about to end gets ErrLost.
func (e *Elector) Try(ctx context.Context, lead func()) error {
	period := e.cfg.Lease / 3
	start := e.cfg.Clock()
	tctx, cancel := context.WithTimeout(ctx, period)
	defer cancel()
	if err := e.heartbeat(tctx, start); err != nil && ctx.Err() == nil {
		e.log.Warn("leader: heartbeat", "err", err)
	}
	held, err := e.TryAcquire(tctx)
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		e.log.Warn("leader: lease", "err", err)
	}
	switch {
	case held && !e.leading.Load():
		e.validUntil = start.Add(e.cfg.Lease)
		e.leading.Store(true)
		e.log.Info("leader: this instance leads the singleton work", "lease", e.cfg.Lease)
		lead()
	case held:
		e.validUntil = start.Add(e.cfg.Lease)
	case e.leading.Load() && (err == nil || !e.cfg.Clock().Before(e.validUntil.Add(-period))):
		// Taken by another, or no renewal in time: stop before another may lead.
		e.leading.Store(false)
		return ErrLost
	}
	return nil
}

// Run calls Try every Lease/3 until ctx ends (nil) or the lease is lost
// (ErrLost). Only one Run or Try may be under way at a time.
func (e *Elector) Run(ctx context.Context, lead func()) error {
	t := time.NewTicker(e.cfg.Lease / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := e.Try(ctx, lead); err != nil {
			return err
		}
	}
}

// Release gives up the lease and this instance's record, so that another
// instance leads at its next try instead of after the lease: call it once
// the singleton work has stopped.
func (e *Elector) Release(ctx context.Context) error {
	e.leading.Store(false)
	_, err := e.db.NewUpdate().Table("leases").Set("expires_at_ms = 0").
		Where("name = ?", leaseName).Where("holder = ?", e.cfg.Instance).Exec(ctx)
	_, derr := e.db.NewDelete().Model((*instanceRow)(nil)).Where("id = ?", e.cfg.Instance).Exec(ctx)
	if err = errors.Join(err, derr); err != nil {
		return fmt.Errorf("leader: release: %w", err)
	}
	return nil
}
