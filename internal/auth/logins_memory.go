package auth

import (
	"context"
	"sync"
	"time"
)

// MemoryLogins is a LoginStore in this process's memory: a restart
// forgets failures, which only ever helps the caller.
type MemoryLogins struct {
	mu    sync.Mutex
	fails map[string][]time.Time // by key: "pair:", "addr:", "email:"
	known map[string]map[string]time.Time
	swept time.Time
}

// NewMemoryLogins returns an empty store.
func NewMemoryLogins() *MemoryLogins {
	return &MemoryLogins{fails: map[string][]time.Time{}, known: map[string]map[string]time.Time{}}
}

// Failures implements LoginStore.
func (m *MemoryLogins) Failures(_ context.Context, key string, since time.Time) ([]time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.recent(key, since), nil
}

// AddFailure implements LoginStore.
func (m *MemoryLogins) AddFailure(_ context.Context, key string, at, since time.Time, keep int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	list := append(m.recent(key, since), at)
	if len(list) > keep {
		list = list[len(list)-keep:]
	}
	m.fails[key] = list
	if at.Sub(m.swept) > at.Sub(since) {
		m.sweep(at, since)
	}
	return nil
}

// Forget implements LoginStore.
func (m *MemoryLogins) Forget(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.fails, key)
	return nil
}

// LastLogin implements LoginStore.
func (m *MemoryLogins) LastLogin(_ context.Context, email, addr string) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.known[email][addr], nil
}

// Remember implements LoginStore.
func (m *MemoryLogins) Remember(_ context.Context, email, addr string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	addrs := m.known[email]
	if addrs == nil {
		addrs = map[string]time.Time{}
		m.known[email] = addrs
	}
	addrs[addr] = at
	for len(addrs) > knownPerEmail {
		var oldest string
		for a, t := range addrs {
			if oldest == "" || t.Before(addrs[oldest]) {
				oldest = a
			}
		}
		delete(addrs, oldest)
	}
	return nil
}

// recent drops key's failures from before since and returns the rest.
func (m *MemoryLogins) recent(key string, since time.Time) []time.Time {
	list := m.fails[key]
	i := 0
	for i < len(list) && !list[i].After(since) {
		i++
	}
	if i == len(list) {
		delete(m.fails, key)
		return nil
	}
	list = list[i:]
	m.fails[key] = list
	return list
}

// sweep drops keys whose failures are all from before since and
// addresses no longer known, so memory follows recent attackers and
// users only.
func (m *MemoryLogins) sweep(now, since time.Time) {
	for k := range m.fails {
		m.recent(k, since)
	}
	for email, addrs := range m.known {
		for a, t := range addrs {
			if now.Sub(t) >= knownFor {
				delete(addrs, a)
			}
		}
		if len(addrs) == 0 {
			delete(m.known, email)
		}
	}
	m.swept = now
}
