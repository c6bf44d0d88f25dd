package migrations

import (
	"context"
	"fmt"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/migrate"
)

// Down rolls back the last applied group of migrations under the lock and
// returns it; an empty group means nothing was applied.
func Down(ctx context.Context, db *bun.DB) (*migrate.MigrationGroup, error) {
	m, err := NewMigrator(db)
	if err != nil {
		return nil, err
	}
	var group *migrate.MigrationGroup
	err = WithLock(ctx, db, func() error {
		if err := m.Init(ctx); err != nil {
			return fmt.Errorf("migrations: init: %w", err)
		}
		if group, err = m.Rollback(ctx); err != nil {
			return fmt.Errorf("migrations: down: %w", err)
		}
		return nil
	})
	return group, err
}

// Status returns every known migration, oldest first, with its group and
// time of application (zero for pending ones).
func Status(ctx context.Context, db *bun.DB) (migrate.MigrationSlice, error) {
	m, err := NewMigrator(db)
	if err != nil {
		return nil, err
	}
	if err := m.Init(ctx); err != nil {
		return nil, fmt.Errorf("migrations: init: %w", err)
	}
	ms, err := m.MigrationsWithStatus(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrations: status: %w", err)
	}
	return ms, nil
}
