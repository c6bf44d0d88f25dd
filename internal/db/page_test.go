package db_test

import (
	"context"
	"testing"

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
			var rows []row
			total, err := db.ScanAndCount(ctx, d, d.NewSelect().Model(&rows).Order("id").Limit(inserts).Offset(1))
			if err != nil {
				t.Fatal(err)
			}
			if want := max(total-1, 0); len(rows) != want {
				t.Fatalf("page holds %d rows beyond the first, total says %d", len(rows), want)
			}
		}
	})
}
