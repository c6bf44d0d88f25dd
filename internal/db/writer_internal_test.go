package db

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"modernc.org/sqlite"
)

// queued waits until n transactions wait for w.
func queued(t *testing.T, w *writer, n int) {
	t.Helper()
	for {
		w.mu.Lock()
		got := len(w.queue)
		w.mu.Unlock()
		if got == n {
			return
		}
		if got > n {
			t.Fatalf("%d waiting, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestWriterPriority: a transaction of a context WithPriority goes before
// those already waiting, after earlier prioritized ones.
func TestWriterPriority(t *testing.T) {
	base, err := sqlite.NewConnector(SQLiteDSN(filepath.Join(t.TempDir(), "p.db"), "FULL"))
	if err != nil {
		t.Fatal(err)
	}
	c := newConnector(base)
	d := sql.OpenDB(c)
	defer d.Close()
	ctx := context.Background()
	if _, err := d.Exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)"); err != nil {
		t.Fatal(err)
	}
	held, err := d.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	insert := func(ctx context.Context, name string) {
		wg.Go(func() {
			if _, err := d.ExecContext(ctx, "INSERT INTO t (name) VALUES (?)", name); err != nil {
				t.Error(err)
			}
		})
	}
	insert(ctx, "plain1")
	queued(t, c.w, 1)
	insert(ctx, "plain2")
	queued(t, c.w, 2)
	insert(WithPriority(ctx), "first")
	queued(t, c.w, 3)
	insert(WithPriority(ctx), "second")
	queued(t, c.w, 4)
	if err := held.Commit(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	rows, err := d.Query("SELECT name FROM t ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var order []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		order = append(order, n)
	}
	if want := []string{"first", "second", "plain1", "plain2"}; !slices.Equal(order, want) {
		t.Fatalf("order %v, want %v", order, want)
	}
}

// TestWriterGroupFails: when a transaction ends the group's transaction
// under the others (here a raw ROLLBACK; SQLite does the same on some
// errors), the transactions already released in the group fail too:
// none is told it committed while its rows are gone.
func TestWriterGroupFails(t *testing.T) {
	base, err := sqlite.NewConnector(SQLiteDSN(filepath.Join(t.TempDir(), "f.db"), "FULL"))
	if err != nil {
		t.Fatal(err)
	}
	c := newConnector(base)
	d := sql.OpenDB(c)
	defer d.Close()
	ctx := context.Background()
	if _, err := d.Exec("CREATE TABLE t (name TEXT)"); err != nil {
		t.Fatal(err)
	}
	held, err := d.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := held.Exec("INSERT INTO t VALUES ('held')"); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	go func() {
		_, err := d.ExecContext(ctx, "INSERT INTO t VALUES ('second')")
		errs <- err
	}()
	queued(t, c.w, 1)
	go func() {
		tx, err := d.BeginTx(ctx, nil)
		if err == nil {
			_, err = tx.Exec("ROLLBACK")
		}
		if err == nil {
			err = tx.Commit()
		}
		errs <- err
	}()
	queued(t, c.w, 2)
	if err := held.Commit(); err == nil {
		t.Fatal("the first transaction committed, though the group's transaction was rolled back")
	}
	for range 2 {
		if err := <-errs; err == nil {
			t.Fatal("a transaction of the failed group committed")
		}
	}
	var n int
	if err := d.QueryRow("SELECT count(*) FROM t").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows, %v", n, err)
	}
	if _, err := d.Exec("INSERT INTO t VALUES ('after')"); err != nil {
		t.Fatalf("the writer after a failed group: %v", err)
	}
}

func TestWrites(t *testing.T) {
	for q, want := range map[string]bool{
		"INSERT INTO t VALUES (1)": true, "insert\ninto t values (1)": true, " (UPDATE t SET x = 1)": true,
		"DELETE FROM t": true, "REPLACE INTO t VALUES (1)": true, "WITH a AS (SELECT 1) DELETE FROM t": true,
		"SELECT 1": false, "PRAGMA wal_checkpoint(TRUNCATE)": false, "CREATE TABLE t (x)": false, "INSERTED": false,
	} {
		if got := writes(q); got != want {
			t.Errorf("writes(%q) = %v, want %v", q, got, want)
		}
	}
}
