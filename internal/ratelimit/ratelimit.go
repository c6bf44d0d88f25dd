// Package ratelimit counts requests per key in fixed windows. The API
// limits each organization to its tier's requests per window (a minute
// unless NEUAIS_RATE_LIMIT_WINDOW says otherwise) and callers without a
// token per address.
package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Decision is the outcome of one request against its key's limit.
type Decision struct {
	Allowed   bool
	Limit     int
	Remaining int
	// Reset is when the current window ends and the count starts again.
	Reset time.Time
	// Window is the length of the windows counted in.
	Window time.Duration
}

// Limiter counts one request for key against limit. Memory is the
// in-process implementation; a store shared by several API instances can
// replace it.
type Limiter interface {
	Allow(ctx context.Context, key string, limit int) (Decision, error)
}

// Memory is a fixed-window counter in this process's memory.
type Memory struct {
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex
	current time.Time // start of the current window
	counts  map[string]int
}

// NewMemory counts in windows of the given length, aligned to the clock
// (minute windows end on the minute). now may be nil (time.Now).
func NewMemory(window time.Duration, now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{window: window, now: now, counts: map[string]int{}}
}

// Allow counts a request for key. A refused request does not count.
func (m *Memory) Allow(_ context.Context, key string, limit int) (Decision, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	start := m.now().Truncate(m.window)
	if !start.Equal(m.current) {
		// A new window: every count starts again, so the map never keeps
		// more keys than one window's callers.
		m.current = start
		clear(m.counts)
	}
	d := Decision{Limit: limit, Reset: start.Add(m.window), Window: m.window}
	n := m.counts[key]
	if n >= limit {
		return d, nil
	}
	m.counts[key] = n + 1
	d.Allowed = true
	d.Remaining = limit - n - 1
	return d, nil
}
