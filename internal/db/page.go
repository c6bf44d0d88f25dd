package db

import (
	"context"
	"database/sql"
	"reflect"

	"github.com/uptrace/bun"
)

// snapshot is a read-only transaction whose statements all see one state:
// repeatable read on PostgreSQL; on SQLite a read-only transaction begins
// deferred and WAL mode keeps its first read's snapshot.
var snapshot = &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}

// ScanAndCount reads the page of q at offset, at most limit rows (0: all),
// and the total of q, from one snapshot. bun's own ScanAndCount runs the
// two on separate connections at once, so that a row changing in between
// gave a total that disagreed with the items. The count query runs only
// where the page cannot tell the total: a page shorter than limit that
// holds rows, or the first page, ends the list.
func ScanAndCount(ctx context.Context, d *bun.DB, q *bun.SelectQuery, limit, offset int) (int, error) {
	var n int
	err := d.RunInTx(ctx, snapshot, func(ctx context.Context, tx bun.Tx) error {
		page := q.Conn(tx).Limit(int64(limit)).Offset(int64(offset))
		if err := page.Scan(ctx); err != nil {
			return err
		}
		if rows, ok := sliceLen(page.GetModel().Value()); ok && (limit <= 0 || rows < limit && (rows > 0 || offset == 0)) {
			n = offset + rows
			return nil
		}
		total, err := page.Count(ctx)
		n = int(total)
		return err
	})
	return n, err
}

// sliceLen is the length of the slice of rows a model scans into
// (Model(&items)); not ok for other models, such as the []any of
// destinations bun keeps for scalar slices.
func sliceLen(model any) (int, bool) {
	v := reflect.ValueOf(model)
	for v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Slice || v.Type().Elem().Kind() == reflect.Interface {
		return 0, false
	}
	return v.Len(), true
}
