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
