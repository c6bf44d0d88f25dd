package db_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/db"
)

func openSQLite(t *testing.T) *bun.DB {
	t.Helper()
	d, err := db.Open(context.Background(), db.Options{URL: "sqlite:" + filepath.Join(t.TempDir(), "w.db"), SQLiteSynchronous: "full"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"); err != nil {
		t.Fatal(err)
	}
	return d
}

func names(t *testing.T, d *bun.DB) map[string]bool {
	t.Helper()
	var got []string
	if err := d.NewSelect().Table("t").Column("name").Scan(context.Background(), &got); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, n := range got {
		out[n] = true
	}
	return out
}

// TestWriterGroups: concurrent transactions share commits on the writer;
// each keeps its own outcome: those that fail leave nothing, a statement
// that fails inside one leaves the others' rows, the rest are all there.
func TestWriterGroups(t *testing.T) {
	d := openSQLite(t)
	ctx := context.Background()
	const n = 200
	errFail := errors.New("fail")
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = d.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				if _, err := tx.ExecContext(ctx, "INSERT INTO t (name) VALUES (?)", fmt.Sprint("a", i)); err != nil {
					return err
				}
				if i%10 == 3 { // a unique violation, handled: the transaction goes on
					if _, err := tx.ExecContext(ctx, "INSERT INTO t (name) VALUES (?)", fmt.Sprint("a", i)); !db.IsUniqueViolation(err) {
						return fmt.Errorf("want a unique violation, got %v", err)
					}
				}
				if i%7 == 0 {
					return errFail
				}
				_, err := tx.ExecContext(ctx, "INSERT INTO t (name) VALUES (?)", fmt.Sprint("b", i))
				return err
			})
		})
	}
	wg.Wait()
	got := names(t, d)
	for i := range n {
		failed := i%7 == 0
		if failed != errors.Is(errs[i], errFail) || !failed && errs[i] != nil {
			t.Fatalf("transaction %d: %v", i, errs[i])
		}
		for _, name := range []string{fmt.Sprint("a", i), fmt.Sprint("b", i)} {
			if got[name] == failed {
				t.Errorf("transaction %d (failed %v): row %s present %v", i, failed, name, got[name])
			}
		}
	}
}

// TestWriterReadsWhileHeld: a transaction holding the writer reads through
// the pool while many others wait for it (the pool is not all waiting
// writers), and a read-only snapshot does not wait for the writer.
func TestWriterReadsWhileHeld(t *testing.T) {
	d := openSQLite(t)
	ctx := context.Background()
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO t (name) VALUES ('held')"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	const waiting = 40
	for i := range waiting {
		wg.Go(func() {
			if _, err := d.ExecContext(ctx, "INSERT INTO t (name) VALUES (?)", fmt.Sprint("w", i)); err != nil {
				t.Error(err)
			}
		})
	}
	var n int
	if err := d.QueryRowContext(ctx, "SELECT count(*) FROM t").Scan(&n); err != nil || n != 0 {
		t.Fatalf("read beside the writer: %d %v (uncommitted rows are not seen)", n, err)
	}
	if _, err := db.ScanAndCount(ctx, d, d.NewSelect().Table("t").Column("name").Model(&[]string{}), 0, 0); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if got := names(t, d); len(got) != waiting+1 || !got["held"] {
		t.Fatalf("rows %v", got)
	}
}

// TestWriterCanceledWait: a transaction whose context ends while it waits
// for the writer fails with the context's error and takes no turn.
func TestWriterCanceledWait(t *testing.T) {
	d := openSQLite(t)
	ctx := context.Background()
	tx, err := d.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := d.BeginTx(waitCtx, nil)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("begin with a canceled context: %v", err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := d.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO t (name) VALUES ('after')")
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

// TestWriterReturning: a write outside a transaction that returns rows
// runs on the writer and gives its rows once committed.
func TestWriterReturning(t *testing.T) {
	d := openSQLite(t)
	ctx := context.Background()
	var id int64
	if err := d.QueryRowContext(ctx, "INSERT INTO t (name) VALUES ('r') RETURNING id").Scan(&id); err != nil || id == 0 {
		t.Fatalf("returning: %d %v", id, err)
	}
	if _, err := d.ExecContext(ctx, "INSERT INTO t (name) VALUES ('r')"); !db.IsUniqueViolation(err) {
		t.Fatalf("duplicate outside a transaction: %v", err)
	}
	if got := names(t, d); len(got) != 1 || !got["r"] {
		t.Fatalf("rows %v", got)
	}
}

// TestWriterPrepared: statements prepared in transactions are closed with
// them, before the writer is another transaction's (database/sql closes
// them again after Commit returns).
func TestWriterPrepared(t *testing.T) {
	d := openSQLite(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			tx, err := d.BeginTx(ctx, nil)
			if err != nil {
				t.Error(err)
				return
			}
			stmt, err := tx.PrepareContext(ctx, "INSERT INTO t (name) VALUES (?)")
			if err == nil {
				_, err = stmt.ExecContext(ctx, fmt.Sprint("p", i))
			}
			if err != nil {
				tx.Rollback() //nolint:errcheck // failing anyway
				t.Error(err)
				return
			}
			if err := tx.Commit(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := names(t, d); len(got) != 50 {
		t.Fatalf("%d rows, want 50", len(got))
	}
}

// TestPoolPrepared: statements prepared on the pool run on whichever
// reader each use borrows (a write on the writer), from more goroutines
// than there are readers.
func TestPoolPrepared(t *testing.T) {
	d := openSQLite(t)
	ctx := context.Background()
	insert, err := d.PrepareContext(ctx, "INSERT INTO t (name) VALUES (?)")
	if err != nil {
		t.Fatal(err)
	}
	defer insert.Close()
	count, err := d.PrepareContext(ctx, "SELECT count(*) FROM t WHERE name LIKE ?")
	if err != nil {
		t.Fatal(err)
	}
	defer count.Close()
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			if _, err := insert.ExecContext(ctx, fmt.Sprint("s", i)); err != nil {
				t.Error(err)
				return
			}
			var n int
			if err := count.QueryRowContext(ctx, "s%").Scan(&n); err != nil || n < 1 {
				t.Errorf("count: %d %v", n, err)
			}
		})
	}
	wg.Wait()
	var n int
	if err := count.QueryRowContext(ctx, "s%").Scan(&n); err != nil || n != 40 {
		t.Fatalf("count: %d %v", n, err)
	}
}
