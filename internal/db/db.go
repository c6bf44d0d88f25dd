// Package db opens the platform's database: an SQLite file in the data
// directory by default, PostgreSQL when given a postgres:// URL.
package db

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	"modernc.org/sqlite"
)

// SQLiteFile is the database file name inside the data directory.
const SQLiteFile = "neuais.db"

// Options say which database to open and how.
type Options struct {
	// URL is postgres://, postgresql://, sqlite:PATH (or file:PATH), or
	// empty for the SQLite file in DataDir.
	URL     string
	DataDir string
	// SQLiteSynchronous is SQLite's synchronous setting: FULL makes every
	// acknowledged commit survive a power loss; NORMAL (in WAL mode) is
	// faster but may lose the last commits on a power loss, never
	// corrupting the file; EXTRA also syncs the directory; OFF is for
	// throwaway data only.
	SQLiteSynchronous string
}

// Open connects to the database of o and checks the connection. A new
// SQLite file is created readable by the server's user only (its WAL and
// shared-memory files take the same mode).
func Open(ctx context.Context, o Options) (*bun.DB, error) {
	databaseURL := o.URL
	var db *bun.DB
	switch {
	case strings.HasPrefix(databaseURL, "postgres://"), strings.HasPrefix(databaseURL, "postgresql://"):
		sqldb, err := sql.Open("pgx", databaseURL)
		if err != nil {
			return nil, fmt.Errorf("db: open postgres: %w", err)
		}
		sqldb.SetMaxOpenConns(20)
		sqldb.SetMaxIdleConns(20)
		db = bun.NewDB(sqldb, pgdialect.New())
	case databaseURL == "", strings.HasPrefix(databaseURL, "sqlite:"), strings.HasPrefix(databaseURL, "file:"):
		sync := strings.ToUpper(o.SQLiteSynchronous)
		if !slices.Contains([]string{"OFF", "NORMAL", "FULL", "EXTRA"}, sync) {
			return nil, fmt.Errorf("db: SQLite synchronous setting %q: want off, normal, full or extra", o.SQLiteSynchronous)
		}
		path := strings.TrimPrefix(strings.TrimPrefix(databaseURL, "sqlite:"), "file:")
		if path == "" {
			if err := os.MkdirAll(o.DataDir, 0o700); err != nil {
				return nil, fmt.Errorf("db: data dir: %w", err)
			}
			path = filepath.Join(o.DataDir, SQLiteFile)
		}
		// SQLite would create the file with the process's umask (0644).
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("db: create sqlite file: %w", err)
		}
		f.Close()
		base, err := sqlite.NewConnector(SQLiteDSN(path, sync))
		if err != nil {
			return nil, fmt.Errorf("db: open sqlite: %w", err)
		}
		sqldb := sql.OpenDB(newConnector(base))
		// The pool's connections hold no SQLite connection (conn.go): writes
		// run on the writer, reads on a bounded set of readers beside it
		// (WAL). Transactions wait for the writer holding one of the pool's,
		// so the pool is not bounded: it could be all waiting transactions.
		sqldb.SetMaxOpenConns(0)
		sqldb.SetMaxIdleConns(64)
		sqldb.SetConnMaxIdleTime(time.Minute)
		db = bun.NewDB(sqldb, sqlitedialect.New())
	default:
		return nil, fmt.Errorf("db: unsupported database URL scheme in %q", redact(databaseURL))
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("db: ping: %w", err)
	}
	return db, nil
}

// SQLiteDSN returns the modernc.org/sqlite DSN for path with foreign keys,
// WAL, a busy timeout (for other processes' writes), immediate transactions
// and the synchronous setting.
func SQLiteDSN(path, synchronous string) string {
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous("+synchronous+")")
	// Freed pages are zeroed: an overwritten secret leaves no copy.
	q.Add("_pragma", "secure_delete(1)")
	q.Set("_txlock", "immediate")
	return "file:" + path + "?" + q.Encode()
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparseable>"
	}
	return u.Redacted()
}
