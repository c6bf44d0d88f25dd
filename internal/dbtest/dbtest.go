// Package dbtest opens migrated databases for tests: SQLite in a temporary
// directory always, and PostgreSQL in a fresh schema when
// NEUAIS_TEST_DATABASE_URL is set.
package dbtest

import (
	"context"
	"database/sql"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/db"
	"github.com/neuais/neuais/migrations"
	"github.com/neuais/neuais/models"
)

// PostgresURLEnv names the variable holding the PostgreSQL test server URL.
const PostgresURLEnv = "NEUAIS_TEST_DATABASE_URL"

// Each runs fn as a subtest on every available database, named "sqlite"
// and "postgres".
func Each(t *testing.T, fn func(t *testing.T, db *bun.DB)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, MustOpenSQLite(t)) })
	if url := os.Getenv(PostgresURLEnv); url != "" {
		t.Run("postgres", func(t *testing.T) { fn(t, MustOpenPostgres(t, url)) })
	}
}

// MustOpenSQLite returns a migrated SQLite database in tb's temporary directory.
func MustOpenSQLite(tb testing.TB) *bun.DB {
	tb.Helper()
	return mustMigrate(tb, "sqlite:"+filepath.Join(tb.TempDir(), "test.db"))
}

// MustOpenPostgres returns a migrated PostgreSQL database in a schema of its
// own, dropped when tb ends.
func MustOpenPostgres(tb testing.TB, rawURL string) *bun.DB {
	tb.Helper()
	schema := "test_" + models.NewID("")
	admin, err := sql.Open("pgx", rawURL)
	if err != nil {
		tb.Fatalf("dbtest: open postgres: %v", err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		tb.Fatalf("dbtest: create schema: %v", err)
	}
	tb.Cleanup(func() {
		admin, err := sql.Open("pgx", rawURL)
		if err != nil {
			return
		}
		defer admin.Close()
		admin.Exec("DROP SCHEMA " + schema + " CASCADE") //nolint:errcheck // best effort
	})
	u, err := url.Parse(rawURL)
	if err != nil {
		tb.Fatalf("dbtest: parse url: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return mustMigrate(tb, u.String())
}

func mustMigrate(tb testing.TB, databaseURL string) *bun.DB {
	tb.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, databaseURL, "")
	if err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	tb.Cleanup(func() { d.Close() })
	if err := migrations.Up(ctx, d); err != nil {
		tb.Fatalf("dbtest: %v", err)
	}
	return d
}
