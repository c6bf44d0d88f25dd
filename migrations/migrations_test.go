package migrations_test

import (
	"context"
	"io/fs"
	"slices"
	"testing"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/db"
	"github.com/neuais/neuais/migrations"
)

func TestDialectFoldersMatch(t *testing.T) {
	names := func(folder string) []string {
		sub, err := migrations.Files(folder)
		if err != nil {
			t.Fatal(err)
		}
		entries, err := fs.ReadDir(sub, ".")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	sqlite, postgres := names("sqlite"), names("postgres")
	if len(sqlite) == 0 || !slices.Equal(sqlite, postgres) {
		t.Fatalf("sqlite %v\npostgres %v", sqlite, postgres)
	}
}

func TestUpIsIdempotent(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		d := apitest.MustOpenDB(t, url)
		ctx := context.Background()
		if applied, err := migrations.Up(ctx, d); err != nil || applied != 0 {
			t.Fatalf("second Up: applied %d, %v", applied, err)
		}
		pending, err := migrations.Pending(ctx, d)
		if err != nil || pending != 0 {
			t.Fatalf("pending %d, %v", pending, err)
		}
	})
}

func TestSQLiteForeignKeysOn(t *testing.T) {
	d := apitest.MustOpenDB(t, "sqlite:"+t.TempDir()+"/fk.db")
	var on int
	if err := d.QueryRow("PRAGMA foreign_keys").Scan(&on); err != nil || on != 1 {
		t.Fatalf("foreign_keys = %d, %v", on, err)
	}
	var mode string
	if err := d.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v", mode, err)
	}
}

func TestConcurrentUp(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		open := func() *bun.DB {
			d, err := db.Open(context.Background(), apitest.DBOptions(t, url))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			return d
		}
		first, second := open(), open()
		errs := make(chan error, 2)
		for _, d := range []*bun.DB{first, second} {
			go func() {
				_, err := migrations.Up(context.Background(), d)
				errs <- err
			}()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})
}
