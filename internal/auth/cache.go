package auth

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/models"
)

// ChangeCounter reads a number that changes whenever an identity behind
// some token may have changed; Cache trusts its entries only while the
// number stays the same.
type ChangeCounter func(ctx context.Context) (int64, error)

// DBChangeCounter reads identity_changes.n, which triggers on users,
// organizations and api_tokens bump in the changing transaction, whoever
// makes the change (this server, another instance, an operator command).
// Concurrent callers share reads: a caller waits for a read that starts
// after it asked, never for one already under way, so every committed
// change is seen by every later request, with one query per batch.
func DBChangeCounter(db *bun.DB) ChangeCounter {
	c := &sharedRead{db: db}
	return c.read
}

type sharedRead struct {
	db *bun.DB
	// stmt, prepared by the first read, spares the parse per read; only
	// run uses it, one at a time.
	stmt    *sql.Stmt
	mu      sync.Mutex
	running bool
	next    *counterRead // starts when the running read ends
}

type counterRead struct {
	done chan struct{}
	n    int64
	err  error
}

// counterTimeout bounds one shared read, which no single caller's context
// may cancel.
const counterTimeout = 5 * time.Second

func (c *sharedRead) read(ctx context.Context) (int64, error) {
	c.mu.Lock()
	r := c.next
	if r == nil {
		r = &counterRead{done: make(chan struct{})}
		if c.running {
			c.next = r
		} else {
			c.running = true
			go c.run(r) //nolint:gosec // one read for every waiter: no caller's context may end it
		}
	}
	c.mu.Unlock()
	select {
	case <-r.done:
		return r.n, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

func (c *sharedRead) run(r *counterRead) {
	for r != nil {
		ctx, cancel := context.WithTimeout(context.Background(), counterTimeout)
		if err := c.readInto(ctx, r); err != nil {
			r.err = fmt.Errorf("auth: read identity changes: %w", err)
		}
		cancel()
		close(r.done)
		c.mu.Lock()
		r, c.next = c.next, nil
		c.running = r != nil
		c.mu.Unlock()
	}
}

func (c *sharedRead) readInto(ctx context.Context, r *counterRead) error {
	if c.stmt == nil {
		stmt, err := c.db.DB.PrepareContext(ctx, "SELECT n FROM identity_changes WHERE id = 1")
		if err != nil {
			return err
		}
		c.stmt = stmt
	}
	return c.stmt.QueryRowContext(ctx).Scan(&r.n)
}

// Cache remembers the identities another Authenticator returns, for up to
// a TTL and only while the ChangeCounter stays where it was when the
// identity was loaded: a password change, role change, deletion, tier
// change or token revocation committed before a request starts applies to
// that request. Refusals are not remembered.
type Cache struct {
	next    Authenticator
	changes ChangeCounter
	ttl     time.Duration
	max     int
	now     func() time.Time

	mu      sync.RWMutex
	entries map[string]cached
}

type cached struct {
	id      models.Identity
	changes int64
	until   time.Time
}

// NewCache returns a cache of at most max identities in front of next,
// each kept for at most ttl. now may be nil (time.Now).
func NewCache(next Authenticator, changes ChangeCounter, ttl time.Duration, max int, now func() time.Time) *Cache {
	if now == nil {
		now = time.Now
	}
	return &Cache{next: next, changes: changes, ttl: ttl, max: max, now: now, entries: make(map[string]cached)}
}

var _ Authenticator = (*Cache)(nil)

// Authenticate returns the identity of raw from the cache when nothing
// has changed since it was loaded, else from the Authenticator behind.
func (c *Cache) Authenticate(ctx context.Context, raw string) (*models.Identity, error) {
	// Read before loading, so a change made during the load is seen next time.
	n, err := c.changes(ctx)
	if err != nil {
		return nil, err
	}
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[raw]
	c.mu.RUnlock()
	if ok && e.changes == n && now.Before(e.until) {
		id := e.id
		return &id, nil
	}
	id, err := c.next.Authenticate(ctx, raw)
	if err != nil {
		if ok {
			c.mu.Lock()
			delete(c.entries, raw)
			c.mu.Unlock()
		}
		return nil, err
	}
	until := now.Add(c.ttl)
	if !id.ExpiresAt.IsZero() && id.ExpiresAt.Before(until) {
		until = id.ExpiresAt
	}
	c.mu.Lock()
	if _, present := c.entries[raw]; !present && len(c.entries) >= c.max {
		for k := range c.entries { // map order: an arbitrary victim
			delete(c.entries, k)
			break
		}
	}
	c.entries[raw] = cached{id: *id, changes: n, until: until}
	c.mu.Unlock()
	return id, nil
}
