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
	"strings"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// SQLiteFile is the database file name inside the data directory.
const SQLiteFile = "neuais.db"

// Open connects to databaseURL, or to the SQLite file in dataDir when it is
// empty, and checks the connection. Accepted URLs: postgres://, postgresql://,
// sqlite:PATH (or file:PATH).
func Open(ctx context.Context, databaseURL, dataDir string) (*bun.DB, error) {
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
		path := strings.TrimPrefix(strings.TrimPrefix(databaseURL, "sqlite:"), "file:")
		if path == "" {
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				return nil, fmt.Errorf("db: data dir: %w", err)
			}
			path = filepath.Join(dataDir, SQLiteFile)
		}
		sqldb, err := sql.Open("sqlite", SQLiteDSN(path))
		if err != nil {
			return nil, fmt.Errorf("db: open sqlite: %w", err)
		}
		// SQLite has one writer; a small pool lets WAL readers run beside it,
		// and immediate transactions queue on the busy timeout instead of
		// failing when a reader upgrades.
		sqldb.SetMaxOpenConns(8)
		sqldb.SetMaxIdleConns(8)
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
// WAL, a busy timeout and immediate transactions.
func SQLiteDSN(path string) string {
	q := url.Values{}
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
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
