package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
)

// SQLite allows one writer at a time, and with synchronous=FULL each commit
// waits for an fsync. Left to SQLite, writers on the pool's connections
// poll for the lock with the busy handler's growing sleeps (up to 100 ms
// each, in no order), and each commit pays its own fsync. So every
// transaction that may write runs on one connection, the writer, one
// at a time in arrival order, each in a savepoint of a transaction shared
// with those queued behind it: that transaction commits when nobody is
// waiting, or the group is full or old, and every transaction of the group
// returns from Commit only then, with its result (group commit: one fsync
// for many commits). A transaction sees the effects of those before it in
// its group, which commit or fail with it.
const (
	// maxGroup is the most transactions one commit carries.
	maxGroup = 64
	// maxGroupAge bounds how long the first of a group waits for the others.
	maxGroupAge = 10 * time.Millisecond
	// busyTimeout is how long a writer waits for its turn, as SQLite's
	// busy_timeout bounds the wait for another process's lock.
	busyTimeout = 10 * time.Second
	// savepoint is the name of each transaction's savepoint.
	savepoint = "neuais_group"
)

var errClosed = errors.New("db: the SQLite writer is closed")

// errWriterBusy is a wait for the writer that ran past busyTimeout.
var errWriterBusy = errors.New("db: waited " + busyTimeout.String() + " for the SQLite writer")

// sqliteConn is what the modernc.org/sqlite driver's connections implement.
type sqliteConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.Validator
}

// connector opens the pool's connections (conn.go), which run their
// transactions, other than read-only ones, on its writer, and their reads
// on its readers.
type connector struct {
	driver.Connector
	w *writer
	r *readers
}

func newConnector(base driver.Connector) *connector {
	c := &connector{Connector: base}
	c.w = &writer{connect: c.open}
	c.r = newReaders(c.open)
	return c
}

func (c *connector) open(ctx context.Context) (sqliteConn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc, ok := conn.(sqliteConn)
	if !ok {
		return nil, errors.Join(fmt.Errorf("db: %T lacks the interfaces of a modernc.org/sqlite connection", conn), conn.Close())
	}
	return sc, nil
}

// Connect implements driver.Connector.
func (c *connector) Connect(context.Context) (driver.Conn, error) {
	return &conn{w: c.w, r: c.r}, nil
}

// Close implements io.Closer, which sql.DB.Close calls.
func (c *connector) Close() error {
	c.r.close()
	return c.w.close()
}

// writes reports whether a statement outside a transaction may write, so
// that it takes its turn on the writer rather than wait for SQLite's lock.
func writes(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n(")
	word := q
	if end := strings.IndexFunc(q, func(r rune) bool { return !unicode.IsLetter(r) }); end >= 0 {
		word = q[:end]
	}
	return slices.Contains([]string{"INSERT", "UPDATE", "DELETE", "REPLACE", "WITH"}, strings.ToUpper(word))
}

// exec1 runs a write outside a transaction on the writer, as a
// transaction of its own.
func (w *writer) exec1(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	t, err := w.begin(ctx)
	if err != nil {
		return nil, err
	}
	res, err := w.conn.ExecContext(context.WithoutCancel(ctx), query, args)
	if err != nil {
		t.Rollback() //nolint:errcheck // err says what happened
		return nil, err
	}
	if err := t.Commit(); err != nil {
		return nil, err
	}
	return res, nil
}

// query1 is exec1 for a write returning rows (RETURNING): they are read
// before the commit, which must succeed before they are given out.
func (w *writer) query1(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	t, err := w.begin(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := readAll(w.conn.QueryContext(context.WithoutCancel(ctx), query, args))
	if err != nil {
		t.Rollback() //nolint:errcheck // err says what happened
		return nil, err
	}
	if err := t.Commit(); err != nil {
		return nil, err
	}
	return rows, nil
}

// rows are a result read whole.
type rows struct {
	columns []string
	values  [][]driver.Value
}

func readAll(r driver.Rows, err error) (*rows, error) {
	if err != nil {
		return nil, err
	}
	out, err := readRows(r)
	if cerr := r.Close(); err == nil && cerr != nil {
		return nil, cerr
	}
	return out, err
}

func readRows(r driver.Rows) (*rows, error) {
	out := &rows{columns: r.Columns()}
	for {
		row := make([]driver.Value, len(out.columns))
		if err := r.Next(row); err == io.EOF {
			return out, nil
		} else if err != nil {
			return nil, err
		}
		for i, v := range row {
			if b, ok := v.([]byte); ok {
				row[i] = slices.Clone(b) // the driver may reuse it
			}
		}
		out.values = append(out.values, row)
	}
}

func (r *rows) Columns() []string { return r.columns }
func (r *rows) Close() error      { return nil }

func (r *rows) Next(dest []driver.Value) error {
	if len(r.values) == 0 {
		return io.EOF
	}
	copy(dest, r.values[0])
	r.values = r.values[1:]
	return nil
}

// groupTx is one transaction: a savepoint in the writer's transaction.
type groupTx struct {
	w     *writer
	c     *conn
	stmts []*stmt
}

// stmt is a statement prepared in a transaction. database/sql closes such
// statements after Commit or Rollback returns, when the writer may be
// another transaction's: the transaction closes them first.
type stmt struct {
	driver.Stmt
	closed bool
}

func (s *stmt) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	return s.Stmt.Close()
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.Stmt.(driver.StmtExecContext).ExecContext(context.WithoutCancel(ctx), args)
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.Stmt.(driver.StmtQueryContext).QueryContext(context.WithoutCancel(ctx), args)
}

func (t *groupTx) prepare(ctx context.Context, query string) (driver.Stmt, error) {
	ds, err := t.w.conn.PrepareContext(context.WithoutCancel(ctx), query)
	if err != nil {
		return nil, err
	}
	s := &stmt{Stmt: ds}
	t.stmts = append(t.stmts, s)
	return s, nil
}

// detach ends the transaction's use of the writer's connection.
func (t *groupTx) detach() {
	for _, s := range t.stmts {
		s.Close() //nolint:errcheck // closing a prepared statement only frees it
	}
	t.stmts = nil
	if t.c != nil {
		t.c.tx, t.c = nil, nil
	}
}

// Commit releases the savepoint and returns once the group's transaction
// has committed.
func (t *groupTx) Commit() error {
	t.detach()
	if _, err := t.w.exec("RELEASE " + savepoint); err != nil {
		t.w.end(nil, err)
		return err
	}
	done := make(chan error, 1)
	t.w.end(done, nil)
	return <-done
}

// Rollback undoes the savepoint's changes; the group goes on.
func (t *groupTx) Rollback() error {
	t.detach()
	_, err := t.w.exec("ROLLBACK TO " + savepoint)
	if err == nil {
		_, err = t.w.exec("RELEASE " + savepoint)
	}
	t.w.end(nil, err)
	return err
}

// writer is the SQLite connection every transaction that may write runs
// on, and its queue.
type writer struct {
	connect func(context.Context) (sqliteConn, error)

	// Only the holder uses these.
	conn   sqliteConn
	tx     driver.Tx // the group's transaction, while open
	since  time.Time // when it began
	closed bool

	mu      sync.Mutex
	held    bool
	queue   []*waiter
	pending []chan error // transactions whose savepoint is released, waiting for the commit
}

type waiter struct {
	ready    chan struct{}
	granted  bool
	priority bool
}

type priorityKey struct{}

// WithPriority returns a context whose SQLite transactions take the
// writer's next turn, ahead of those waiting (in arrival order among
// themselves): for a lone writer whose transactions each carry the work of
// many others (the webhooks dispatcher), so that its wait does not grow
// with the queue of the API's transactions. Other databases ignore it.
func WithPriority(ctx context.Context) context.Context {
	return context.WithValue(ctx, priorityKey{}, true)
}

func (w *writer) exec(query string) (driver.Result, error) {
	return w.conn.ExecContext(context.Background(), query, nil)
}

// begin waits for the writer, in arrival order, and starts a transaction:
// a savepoint in the group's transaction, which it begins when none is open.
func (w *writer) begin(ctx context.Context) (*groupTx, error) {
	if err := w.acquire(ctx); err != nil {
		return nil, err
	}
	if w.closed {
		w.end(nil, nil)
		return nil, errClosed
	}
	if w.conn == nil {
		c, err := w.connect(ctx)
		if err != nil {
			w.end(nil, nil)
			return nil, err
		}
		w.conn = c
	}
	if w.tx == nil {
		tx, err := w.conn.BeginTx(context.Background(), driver.TxOptions{}) // immediate: the DSN says so
		if err != nil {
			w.end(nil, nil)
			return nil, err
		}
		w.tx, w.since = tx, time.Now()
	}
	if _, err := w.exec("SAVEPOINT " + savepoint); err != nil {
		w.end(nil, err)
		return nil, err
	}
	return &groupTx{w: w}, nil
}

func (w *writer) acquire(ctx context.Context) error {
	w.mu.Lock()
	if !w.held {
		w.held = true
		w.mu.Unlock()
		return nil
	}
	wt := &waiter{ready: make(chan struct{}), priority: ctx.Value(priorityKey{}) != nil}
	at := len(w.queue)
	if wt.priority {
		at = 0
		for at < len(w.queue) && w.queue[at].priority {
			at++
		}
	}
	w.queue = slices.Insert(w.queue, at, wt)
	w.mu.Unlock()
	timeout := time.NewTimer(busyTimeout)
	defer timeout.Stop()
	var err error
	select {
	case <-wt.ready:
		return nil
	case <-ctx.Done():
		err = ctx.Err()
	case <-timeout.C:
		err = errWriterBusy
	}
	w.mu.Lock()
	if wt.granted { // just now: pass the turn on
		w.mu.Unlock()
		w.end(nil, nil)
		return err
	}
	w.queue = slices.DeleteFunc(w.queue, func(x *waiter) bool { return x == wt })
	w.mu.Unlock()
	return err
}

// end is the holder's last step: done, when set, joins the transactions
// waiting for the commit. The next in the queue continues the group unless
// it is full or old, or failed (the group's transaction may be gone, so it
// rolls back and every waiting transaction gets the error); otherwise the
// group commits first.
func (w *writer) end(done chan error, failed error) {
	w.mu.Lock()
	if done != nil {
		w.pending = append(w.pending, done)
	}
	if failed == nil && w.tx != nil && len(w.queue) > 0 && len(w.pending) < maxGroup && time.Since(w.since) < maxGroupAge {
		w.passLocked()
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	w.flush(failed)
	w.mu.Lock()
	w.passLocked()
	w.mu.Unlock()
}

// flush ends the group's transaction, if open: it commits, or rolls back
// when failed is set, and tells the waiting transactions.
func (w *writer) flush(failed error) {
	w.mu.Lock()
	pending := w.pending
	w.pending = nil
	w.mu.Unlock()
	if w.tx == nil {
		return
	}
	var err error
	if failed != nil {
		w.tx.Rollback() //nolint:errcheck // the transaction may be gone already
		err = fmt.Errorf("db: a transaction committed with others failed: %w", failed)
	} else {
		err = w.tx.Commit()
	}
	w.tx = nil
	for _, p := range pending {
		p <- err
	}
}

// passLocked gives the writer to the first waiting, or frees it.
func (w *writer) passLocked() {
	if len(w.queue) == 0 {
		w.held = false
		return
	}
	next := w.queue[0]
	w.queue = w.queue[1:]
	next.granted = true
	close(next.ready)
}

// close waits for its turn (sql.DB.Close does not wait for transactions in
// progress), commits the group that was waiting and closes the writer.
func (w *writer) close() error {
	if err := w.acquire(context.Background()); err != nil {
		return err
	}
	w.flush(nil)
	var err error
	if w.conn != nil {
		err = w.conn.Close()
	}
	w.closed = true
	w.end(nil, nil)
	return err
}
