package db

import (
	"context"
	"database/sql"

	"github.com/uptrace/bun"
)

// snapshot is a read-only transaction whose statements all see one state:
// repeatable read on PostgreSQL; on SQLite a read-only transaction begins
// deferred and WAL mode keeps its first read's snapshot.
var snapshot = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}

// ScanAndCount reads a page and the total of its query from one snapshot.
// bun's own ScanAndCount runs the two on separate connections at once, so
// that a row changing in between gave a total that disagreed with the items.
func ScanAndCount(ctx context.Context, d *bun.DB, q *bun.SelectQuery) (int, error) {
	var n int
	err := d.RunInTx(ctx, snapshot, func(ctx context.Context, tx bun.Tx) error {
		total, err := q.Conn(tx).ScanAndCount(ctx)
		n = int(total)
		return err
	})
	return n, err
}
