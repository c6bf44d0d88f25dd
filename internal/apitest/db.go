// Package apitest starts whole servers and databases for tests: every
// store and API test runs on SQLite, and on PostgreSQL too when
// NEUAIS_TEST_DATABASE_URL is set.
package apitest

import (
	"context"
	"database/sql"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver for schema setup
	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/internal/db"
	"github.com/neuais/neuais/migrations"
	"github.com/neuais/neuais/models"
)

// PostgresEnv names the PostgreSQL server used by tests.
const PostgresEnv = "NEUAIS_TEST_DATABASE_URL"

// EachDB runs f as a subtest on a fresh SQLite database, and on a fresh
// PostgreSQL schema when NEUAIS_TEST_DATABASE_URL is set. f receives the
// database URL to give the server.
func EachDB(t *testing.T, f func(t *testing.T, databaseURL string)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) {
		f(t, "sqlite:"+filepath.Join(t.TempDir(), "test.db"))
	})
	if os.Getenv(PostgresEnv) != "" {
		t.Run("postgres", func(t *testing.T) {
			f(t, PostgresURL(t))
		})
	}
}

// PostgresURL creates an empty schema on the test server, dropped when the
// test ends, and returns a URL whose connections use it.
func PostgresURL(tb testing.TB) string {
	tb.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		tb.Skip(PostgresEnv + " is not set")
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatalf("open postgres: %v", err)
	}
	schema := "t_" + models.NewID("")
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		admin.Close()
		tb.Fatalf("create schema: %v", err)
	}
	tb.Cleanup(func() {
		defer admin.Close()
		// A connection the test's server has not yet given back may still
		// lock the schema's tables in another order: the drop, chosen as the
		// deadlock's victim, is tried again.
		for attempt := 1; ; attempt++ {
			_, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE")
			var pgErr *pgconn.PgError
			if err == nil || attempt == 5 || !errors.As(err, &pgErr) || pgErr.Code != "40P01" {
				if err != nil {
					tb.Errorf("drop schema: %v", err)
				}
				return
			}
			time.Sleep(time.Duration(attempt) * 100 * time.Millisecond)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse %s: %v", PostgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// DBOptions are the options of the server's database at databaseURL, with
// the configuration's defaults.
func DBOptions(tb testing.TB, databaseURL string) db.Options {
	return db.Options{URL: databaseURL, DataDir: tb.TempDir(), SQLiteSynchronous: config.Default().SQLiteSynchronous}
}

// MustOpenDB opens databaseURL with every migration applied, closed when
// the test ends.
func MustOpenDB(tb testing.TB, databaseURL string) *bun.DB {
	tb.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, DBOptions(tb, databaseURL))
	if err != nil {
		tb.Fatalf("open database: %v", err)
	}
	tb.Cleanup(func() { d.Close() })
	if _, err := migrations.Up(ctx, d); err != nil {
		tb.Fatalf("migrate: %v", err)
	}
	return d
}
