package db

import (
	"context"
	"database/sql/driver"
	"errors"
	"reflect"
	"sync"
)

// maxReaders bounds the SQLite connections reads run on at once.
const maxReaders = 8

// conn is one of the pool's connections. It holds no SQLite connection of
// its own: transactions, and writes outside them, run on the writer; reads
// borrow one of the readers for a statement (until its rows are closed) or
// a read-only transaction. So the pool can be unbounded, and transactions
// waiting for the writer hold no reader that the writer's holder may need
// for a read of its own; the SQLite connections stay bounded.
type conn struct {
	w   *writer
	r   *readers
	tx  *groupTx  // in progress on the writer
	rtx *readOnly // in progress on a reader
}

var (
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.Validator          = (*conn)(nil)
)

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	switch {
	case c.tx != nil:
		return c.tx.prepare(ctx, query)
	case c.rtx != nil:
		return c.rtx.prepare(ctx, query)
	}
	return &poolStmt{c: c, query: query}, nil
}

func (c *conn) Close() error {
	switch {
	case c.tx != nil:
		return c.tx.Rollback()
	case c.rtx != nil:
		return c.rtx.Rollback()
	}
	return nil
}

func (c *conn) Begin() (driver.Tx, error) { return c.BeginTx(context.Background(), driver.TxOptions{}) }

// BeginTx starts a transaction on the writer; a read-only one (a snapshot)
// on a reader.
func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if opts.ReadOnly {
		r, err := c.r.get(ctx)
		if err != nil {
			return nil, err
		}
		tx, err := r.BeginTx(ctx, opts)
		if err != nil {
			c.r.put(r, err)
			return nil, err
		}
		c.rtx = &readOnly{Tx: tx, r: r, c: c}
		return c.rtx, nil
	}
	t, err := c.w.begin(ctx)
	if err != nil {
		return nil, err
	}
	t.c, c.tx = c, t
	return t, nil
}

// Statements on the writer run to their end whatever their context: an
// interrupted write would roll back the whole group's transaction.
// database/sql still refuses statements of a transaction whose context
// ended, and rolls it back.

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	switch {
	case c.tx != nil:
		return c.w.conn.ExecContext(context.WithoutCancel(ctx), query, args)
	case c.rtx != nil:
		return c.rtx.r.ExecContext(ctx, query, args)
	case writes(query):
		return c.w.exec1(ctx, query, args)
	}
	r, err := c.r.get(ctx)
	if err != nil {
		return nil, err
	}
	res, err := r.ExecContext(ctx, query, args)
	c.r.put(r, err)
	return res, err
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	switch {
	case c.tx != nil:
		return c.w.conn.QueryContext(context.WithoutCancel(ctx), query, args)
	case c.rtx != nil:
		return c.rtx.r.QueryContext(ctx, query, args)
	case writes(query):
		return c.w.query1(ctx, query, args)
	}
	r, err := c.r.get(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := r.QueryContext(ctx, query, args)
	if err != nil {
		c.r.put(r, err)
		return nil, err
	}
	return &readerRows{Rows: rows, release: func(err error) { c.r.put(r, err) }}, nil
}

func (c *conn) Ping(ctx context.Context) error {
	r, err := c.r.get(ctx)
	if err != nil {
		return err
	}
	err = r.Ping(ctx)
	c.r.put(r, err)
	return err
}

func (c *conn) ResetSession(context.Context) error { return nil }
func (c *conn) IsValid() bool                      { return true }

// readers are the SQLite connections reads run on.
type readers struct {
	open  func(context.Context) (sqliteConn, error)
	slots chan struct{} // one per reader open or opening
	idle  chan *reader

	mu     sync.Mutex
	closed bool
}

func newReaders(open func(context.Context) (sqliteConn, error)) *readers {
	return &readers{open: open, slots: make(chan struct{}, maxReaders), idle: make(chan *reader, maxReaders)}
}

// reader is a SQLite connection for reads, with the statements that the
// pool's prepared statements (poolStmt) prepared on it.
type reader struct {
	sqliteConn
	stmts map[string]driver.Stmt
}

// get returns an idle reader, a new one while fewer than maxReaders are
// open, or waits for one.
func (p *readers) get(ctx context.Context) (*reader, error) {
	select {
	case r := <-p.idle:
		return r, nil
	default:
	}
	select {
	case r := <-p.idle:
		return r, nil
	case p.slots <- struct{}{}:
		c, err := p.open(ctx)
		if err != nil {
			<-p.slots
			return nil, err
		}
		return &reader{sqliteConn: c, stmts: map[string]driver.Stmt{}}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// put gives r back after a use that ended with err; a broken reader is
// closed, and another opened when needed.
func (p *readers) put(r *reader, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || errors.Is(err, driver.ErrBadConn) || !r.IsValid() {
		r.close()
		<-p.slots
		return
	}
	p.idle <- r
}

func (r *reader) close() {
	for _, s := range r.stmts {
		s.Close() //nolint:errcheck // closing only frees it
	}
	r.sqliteConn.Close() //nolint:errcheck // nothing to do about it
}

func (p *readers) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for {
		select {
		case r := <-p.idle:
			r.close()
			<-p.slots
		default:
			return
		}
	}
}

// readerRows give their reader back when closed.
type readerRows struct {
	driver.Rows
	release func(error)
	done    bool
}

func (r *readerRows) Close() error {
	err := r.Rows.Close()
	if !r.done {
		r.done = true
		r.release(err)
	}
	return err
}

// The column types of the driver's rows, which bun reads for maps.

func (r *readerRows) ColumnTypeDatabaseTypeName(i int) string {
	return r.Rows.(driver.RowsColumnTypeDatabaseTypeName).ColumnTypeDatabaseTypeName(i)
}

func (r *readerRows) ColumnTypeLength(i int) (int64, bool) {
	return r.Rows.(driver.RowsColumnTypeLength).ColumnTypeLength(i)
}

func (r *readerRows) ColumnTypeNullable(i int) (bool, bool) {
	return r.Rows.(driver.RowsColumnTypeNullable).ColumnTypeNullable(i)
}

func (r *readerRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	return r.Rows.(driver.RowsColumnTypePrecisionScale).ColumnTypePrecisionScale(i)
}

func (r *readerRows) ColumnTypeScanType(i int) reflect.Type {
	return r.Rows.(driver.RowsColumnTypeScanType).ColumnTypeScanType(i)
}

// readOnly is a read-only transaction on a reader.
type readOnly struct {
	driver.Tx
	r     *reader
	c     *conn
	stmts []*stmt
}

func (t *readOnly) prepare(ctx context.Context, query string) (driver.Stmt, error) {
	ds, err := t.r.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	s := &stmt{Stmt: ds}
	t.stmts = append(t.stmts, s)
	return s, nil
}

func (t *readOnly) Commit() error   { return t.end(t.Tx.Commit) }
func (t *readOnly) Rollback() error { return t.end(t.Tx.Rollback) }

// end closes the statements prepared in the transaction, which database/sql
// would close after the reader is another's, ends it and gives the reader
// back.
func (t *readOnly) end(f func() error) error {
	for _, s := range t.stmts {
		s.Close() //nolint:errcheck // closing only frees it
	}
	t.c.rtx = nil
	err := f()
	t.c.r.put(t.r, err)
	return err
}

// poolStmt is a statement prepared on the pool, outside a transaction: each
// use prepares it on the reader it borrows, once per reader. A statement
// that may write runs on the writer, unprepared.
type poolStmt struct {
	c     *conn
	query string
}

func (s *poolStmt) Close() error  { return nil }
func (s *poolStmt) NumInput() int { return -1 }

func (s *poolStmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.ExecContext(context.Background(), named(args))
}

func (s *poolStmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.QueryContext(context.Background(), named(args))
}

func (s *poolStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	if writes(s.query) {
		return s.c.w.exec1(ctx, s.query, args)
	}
	r, ds, err := s.on(ctx)
	if err != nil {
		return nil, err
	}
	res, err := ds.(driver.StmtExecContext).ExecContext(ctx, args)
	s.c.r.put(r, err)
	return res, err
}

func (s *poolStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	if writes(s.query) {
		return s.c.w.query1(ctx, s.query, args)
	}
	r, ds, err := s.on(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := ds.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		s.c.r.put(r, err)
		return nil, err
	}
	return &readerRows{Rows: rows, release: func(err error) { s.c.r.put(r, err) }}, nil
}

// on borrows a reader and returns the statement prepared on it.
func (s *poolStmt) on(ctx context.Context) (*reader, driver.Stmt, error) {
	r, err := s.c.r.get(ctx)
	if err != nil {
		return nil, nil, err
	}
	ds, ok := r.stmts[s.query]
	if !ok {
		if ds, err = r.PrepareContext(ctx, s.query); err != nil {
			s.c.r.put(r, err)
			return nil, nil, err
		}
		r.stmts[s.query] = ds
	}
	return r, ds, nil
}

func named(args []driver.Value) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, v := range args {
		out[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return out
}
