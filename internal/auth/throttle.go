package auth

import (
	"sync"
	"time"
)

// Throttle counts failed logins per key (an e-mail, a client address) in
// a sliding window and blocks a key that reached the maximum. It lives in
// memory: a restart forgets failures, which only ever helps the caller.
type Throttle struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu    sync.Mutex
	fails map[string][]time.Time
	swept time.Time
}

// NewThrottle blocks a key after max failures within window. max ≤ 0
// disables throttling. now may be nil (time.Now).
func NewThrottle(max int, window time.Duration, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{max: max, window: window, now: now, fails: map[string][]time.Time{}}
}

// Blocked returns how long until every key may try again: 0 when none is blocked.
func (t *Throttle) Blocked(keys ...string) time.Duration {
	if t == nil || t.max <= 0 {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	var wait time.Duration
	for _, k := range keys {
		recent := t.recent(k, now)
		if len(recent) >= t.max {
			// Free again when the oldest failure that keeps it at the maximum leaves the window.
			wait = max(wait, recent[len(recent)-t.max].Add(t.window).Sub(now))
		}
	}
	return wait
}

// Fail records one failure for every key.
func (t *Throttle) Fail(keys ...string) {
	if t == nil || t.max <= 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	for _, k := range keys {
		t.fails[k] = append(t.recent(k, now), now)
	}
	if now.Sub(t.swept) > t.window {
		t.sweep(now)
	}
}

// Reset forgets the failures of key, after a successful login.
func (t *Throttle) Reset(key string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.fails, key)
}

// recent drops key's failures older than the window and returns the rest.
func (t *Throttle) recent(key string, now time.Time) []time.Time {
	list := t.fails[key]
	i := 0
	for i < len(list) && now.Sub(list[i]) >= t.window {
		i++
	}
	if i == len(list) {
		delete(t.fails, key)
		return nil
	}
	list = list[i:]
	t.fails[key] = list
	return list
}

// sweep drops keys whose failures have all left the window, so memory
// follows recent attackers only.
func (t *Throttle) sweep(now time.Time) {
	for k := range t.fails {
		t.recent(k, now)
	}
	t.swept = now
}
