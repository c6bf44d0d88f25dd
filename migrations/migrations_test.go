package migrations_test

import (
	"context"
	"io/fs"
	"regexp"
	"slices"
	"testing"
	"testing/fstest"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/migrate"

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

// TestOrgSlugsOfExistingOrganizations: organizations made before slugs
// existed get one from their name, unique, and usable in a host.
func TestOrgSlugsOfExistingOrganizations(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		ctx := context.Background()
		d, err := db.Open(ctx, apitest.DBOptions(t, url))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		dialectFolder := "sqlite"
		if d.Dialect().Name() == dialect.PG {
			dialectFolder = "postgres"
		}
		all, err := migrations.Files(dialectFolder)
		if err != nil {
			t.Fatal(err)
		}
		before := fstest.MapFS{}
		entries, err := fs.ReadDir(all, ".")
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() < "20261202000100" {
				data, err := fs.ReadFile(all, e.Name())
				if err != nil {
					t.Fatal(err)
				}
				before[e.Name()] = &fstest.MapFile{Data: data}
			}
		}
		set := migrate.NewMigrations()
		if err := set.Discover(before); err != nil {
			t.Fatal(err)
		}
		old := migrate.NewMigrator(d, set, migrate.WithMarkAppliedOnSuccess(true))
		if err := old.Init(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := old.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		orgs := []struct{ id, name, want string }{
			{"org_0000000000000001", "default", "default"},
			{"org_0000000000000002", "Acme Inc.", "acme-inc"},
			{"org_0000000000000003", "acme_inc", "acme-inc-0000000000000003"},
			{"org_0000000000000004", "Ünïcode", ""}, // dialects differ; checked as a label below
			{"org_0000000000000005", "--", "org-0000000000000005"},
		}
		for i, o := range orgs {
			_, err := d.ExecContext(ctx, "INSERT INTO organizations (id, name, tier, rate_limit, created_at) VALUES (?, ?, 'free', 100, ?)",
				o.id, o.name, time.Date(2026, 1, 1, 0, 0, i, 0, time.UTC))
			if err != nil {
				t.Fatal(err)
			}
		}
		if _, err := migrations.Up(ctx, d); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		label := regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)
		for _, o := range orgs {
			var slug string
			if err := d.QueryRowContext(ctx, "SELECT slug FROM organizations WHERE id = ?", o.id).Scan(&slug); err != nil {
				t.Fatal(err)
			}
			if (o.want != "" && slug != o.want) || !label.MatchString(slug) || seen[slug] {
				t.Errorf("slug of %q = %q, want %q (a unique DNS label)", o.name, slug, o.want)
			}
			seen[slug] = true
		}
		if _, err := d.ExecContext(ctx, "INSERT INTO organizations (id, name, slug, tier, rate_limit, created_at) VALUES ('org_x', 'x', 'acme-inc', 'free', 100, ?)", time.Now()); err == nil {
			t.Error("a taken slug was accepted")
		}
		if group, err := migrations.Down(ctx, d); err != nil {
			t.Fatalf("down: %v, %+v", err, group)
		}
	})
}
