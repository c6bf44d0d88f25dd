package db_test

import (
	"context"
	"strings"
	"testing"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/db"
)

type row struct {
	ID int64 `bun:"id,pk,autoincrement"`
	N  int   `bun:"n,notnull"`
}

// A page read while another connection inserts must count the rows it holds.
func TestScanAndCountOneSnapshot(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, databaseURL string) {
		ctx := context.Background()
		d := apitest.MustOpenDB(t, databaseURL)
		if _, err := d.NewCreateTable().Model((*row)(nil)).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		const inserts = 400
		done := make(chan error, 1)
		go func() {
			for i := range inserts {
				if _, err := d.NewInsert().Model(&row{N: i}).Exec(ctx); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		for reads := 0; ; reads++ {
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%d pages read during %d inserts", reads, inserts)
				return
			default:
			}
			// A short page, so that the total comes from the count query
			// once there are more rows than it holds.
			var rows []row
			total, err := db.ScanAndCount(ctx, d, d.NewSelect().Model(&rows).Order("id"), 5, 1)
			if err != nil {
				t.Fatal(err)
			}
			if want := min(5, max(total-1, 0)); len(rows) != want {
				t.Fatalf("page holds %d rows beyond the first, total %d says %d", len(rows), total, want)
			}
		}
	})
}

// queryCounter counts the statements bun runs.
type queryCounter struct{ n int }

func (c *queryCounter) BeforeQuery(ctx context.Context, _ *bun.QueryEvent) context.Context {
	return ctx
}

func (c *queryCounter) AfterQuery(_ context.Context, e *bun.QueryEvent) {
	if strings.HasPrefix(e.Query, "SELECT") {
		c.n++
	}
}

// The count query runs only where the page cannot tell the total.
func TestScanAndCountCountsOnlyWhereNeeded(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, databaseURL string) {
		ctx := context.Background()
		d := apitest.MustOpenDB(t, databaseURL)
		if _, err := d.NewCreateTable().Model((*row)(nil)).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			if _, err := d.NewInsert().Model(&row{N: i}).Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		counter := &queryCounter{}
		d = d.WithQueryHook(counter)
		for _, tt := range []struct {
			limit, offset, rows, selects int
		}{
			{limit: 10, offset: 0, rows: 5, selects: 1}, // the whole list
			{limit: 0, offset: 0, rows: 5, selects: 1},  // no limit
			{limit: 3, offset: 3, rows: 2, selects: 1},  // the last page
			{limit: 5, offset: 0, rows: 5, selects: 2},  // full: more may follow
			{limit: 2, offset: 1, rows: 2, selects: 2},
			{limit: 2, offset: 9, rows: 0, selects: 2}, // past the end
			{limit: 5, offset: 5, rows: 0, selects: 2},
		} {
			counter.n = 0
			var rows []row
			total, err := db.ScanAndCount(ctx, d, d.NewSelect().Model(&rows).Order("id"), tt.limit, tt.offset)
			if err != nil {
				t.Fatal(err)
			}
			if total != 5 || len(rows) != tt.rows || counter.n != tt.selects {
				t.Errorf("limit %d offset %d: total %d, %d rows, %d selects; want 5, %d, %d",
					tt.limit, tt.offset, total, len(rows), counter.n, tt.rows, tt.selects)
			}
		}
	})
}
