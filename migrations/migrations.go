// Package migrations holds the versioned schema of both databases: one
// folder per dialect with identical file names.
package migrations

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"github.com/uptrace/bun/migrate"
)

//go:embed sqlite/*.sql postgres/*.sql
var files embed.FS

// Files returns the migration files of one dialect ("sqlite" or "postgres").
func Files(dialectFolder string) (fs.FS, error) {
	return fs.Sub(files, dialectFolder)
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
