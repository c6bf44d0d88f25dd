package migrations

import (
	"context"
	"fmt"
	"os"
	"syscall"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
)

// advisoryLockKey identifies the migration lock among PostgreSQL advisory locks.
const advisoryLockKey = 7_461_636_912

// WithLock runs f while holding a lock that serializes migrations across
// processes sharing the database (a server and `neuais migrate`, or several
// servers). The lock belongs to a session (PostgreSQL) or an open file
// (SQLite), so a crashed process never leaves it behind, unlike a lock row.
func WithLock(ctx context.Context, db *bun.DB, f func() error) error {
	switch db.Dialect().Name() {
	case dialect.PG:
		conn, err := db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("migrations: lock: %w", err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(?)", advisoryLockKey); err != nil {
			return fmt.Errorf("migrations: lock: %w", err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", advisoryLockKey) //nolint:errcheck // closing the session releases it too
		return f()
	case dialect.SQLite:
		var path string
		if err := db.QueryRowContext(ctx, "SELECT file FROM pragma_database_list WHERE name = 'main'").Scan(&path); err != nil {
			return fmt.Errorf("migrations: lock: %w", err)
		}
		if path == "" { // in-memory database: no other process can share it
			return f()
		}
		lock, err := os.OpenFile(path+".migrate-lock", os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return fmt.Errorf("migrations: lock: %w", err)
		}
		defer lock.Close()
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
			return fmt.Errorf("migrations: lock: %w", err)
		}
		return f()
	}
	return f()
}
