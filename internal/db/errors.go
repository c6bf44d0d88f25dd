package db

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// IsUniqueViolation reports whether err is a unique-constraint violation on
// either database, so that a race past an existence check still ends in a
// conflict instead of an internal error.
func IsUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "23505"
	}
	var liteErr *sqlite.Error
	if errors.As(err, &liteErr) {
		return liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || liteErr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

// LockRow takes a row lock on the row of model's table with the given id
// until tx ends. On SQLite it does nothing: its transactions start
// immediate, so writers are already serialized.
func LockRow(ctx context.Context, tx bun.Tx, model any, id string) error {
	if tx.Dialect().Name() != dialect.PG {
		return nil
	}
	var got string
	return tx.NewSelect().Model(model).Column("id").Where("id = ?", id).For("UPDATE").Scan(ctx, &got)
}
