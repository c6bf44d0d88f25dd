// Package migrations holds the versioned schema of both databases: one
// folder per dialect with identical file names, and common/ for
// migrations whose SQL both dialects run as written.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"testing/fstest"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/migrate"
)

//go:embed sqlite/*.sql postgres/*.sql common
var files embed.FS

// Files returns the migration files of one dialect ("sqlite" or
// "postgres"): its own folder and common/.
func Files(dialectFolder string) (fs.FS, error) {
	own, err := fs.Sub(files, dialectFolder)
	if err != nil {
		return nil, err
	}
	common, err := fs.Sub(files, "common")
	if err != nil {
		return nil, err
	}
	return merge(common, own)
}

// merge joins the .sql files of common and own into one folder. A
// migration id in both is refused: bun would keep only one of the files.
func merge(common, own fs.FS) (fs.FS, error) {
	out := fstest.MapFS{}
	folderOf := map[string]string{} // migration id → the folder holding it
	for _, f := range []struct {
		name string
		fsys fs.FS
	}{{"common", common}, {"the dialect's", own}} {
		names, err := fs.Glob(f.fsys, "*.sql")
		if err != nil {
			return nil, err
		}
		for _, name := range names {
			id, _, _ := strings.Cut(name, "_")
			if other, ok := folderOf[id]; ok && other != f.name {
				return nil, fmt.Errorf("migrations: id %s is in both common/ and %s folder (%s)", id, f.name, name)
			}
			folderOf[id] = f.name
			data, err := fs.ReadFile(f.fsys, name)
			if err != nil {
				return nil, err
			}
			out[name] = &fstest.MapFile{Data: data}
		}
	}
	return out, nil
}

// NewMigrator returns a migrator over the folder of db's dialect. Each
// migration is marked applied only once it has succeeded.
func NewMigrator(db *bun.DB) (*migrate.Migrator, error) {
	var folder string
	switch db.Dialect().Name() {
	case dialect.SQLite:
		folder = "sqlite"
	case dialect.PG:
		folder = "postgres"
	default:
		return nil, fmt.Errorf("migrations: unsupported dialect %s", db.Dialect().Name())
	}
	sub, err := Files(folder)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	set := migrate.NewMigrations()
	if err := set.Discover(sub); err != nil {
		return nil, fmt.Errorf("migrations: discover: %w", err)
	}
	return migrate.NewMigrator(db, set, migrate.WithMarkAppliedOnSuccess(true)), nil
}

// Up applies every pending migration under the migrator's lock and
// returns how many it applied. It works on an empty database too: the
// migrations table is created first.
func Up(ctx context.Context, db *bun.DB) (int, error) {
	m, err := NewMigrator(db)
	if err != nil {
		return 0, err
	}
	applied := 0
	err = WithLock(ctx, db, func() error {
		if err := m.Init(ctx); err != nil {
			return fmt.Errorf("migrations: init: %w", err)
		}
		group, err := m.Migrate(ctx)
		if err != nil {
			return fmt.Errorf("migrations: up: %w", err)
		}
		applied = len(group.Migrations)
		return nil
	})
	return applied, err
}

// Pending reports how many migrations are not yet applied.
func Pending(ctx context.Context, db *bun.DB) (int, error) {
	m, err := NewMigrator(db)
	if err != nil {
		return 0, err
	}
	ms, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return 0, fmt.Errorf("migrations: status: %w", err)
	}
	return len(ms.Unapplied()), nil
}
