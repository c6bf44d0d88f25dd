package auth

import (
	"sync"
	"time"
)

// LoginLimits say when failed logins slow further attempts down. Each
// count is of failures within Window; a count of 0 turns its rule off.
type LoginLimits struct {
	// PairMax failures of one e-mail from one address block that pair
	// until the oldest failure leaves the window.
	PairMax int
	// AddrMax failures from one address, whatever the e-mails, block the
	// address: it is guessing accounts.
	AddrMax int
	// EmailSlowAfter failures of one e-mail from any addresses make each
	// further attempt wait a delay that doubles with every failure, from
	// one second up to MaxDelay, except from addresses this e-mail logged
	// in from before: someone guessing from everywhere slows down, but no
	// outsider can lock the owner out.
	EmailSlowAfter int
	Window         time.Duration
	MaxDelay       time.Duration
}

// Throttle applies LoginLimits to failed logins. It lives in memory: a
// restart forgets failures, which only ever helps the caller.
type Throttle struct {
	limits LoginLimits
	now    func() time.Time

	mu    sync.Mutex
	fails map[string][]time.Time // by key: "pair:", "addr:", "email:"
	known map[string]map[string]time.Time
	swept time.Time
}

// knownFor is how long an address stays known after a good login, and
// knownPerEmail how many addresses an e-mail keeps.
const (
	knownFor      = 30 * 24 * time.Hour
	knownPerEmail = 16
)

// NewThrottle applies limits; now may be nil (time.Now).
func NewThrottle(limits LoginLimits, now func() time.Time) *Throttle {
	if now == nil {
		now = time.Now
	}
	return &Throttle{limits: limits, now: now, fails: map[string][]time.Time{}, known: map[string]map[string]time.Time{}}
}

// Blocked returns how long until email may try to log in from addr
// again: 0 when it may now.
func (t *Throttle) Blocked(email, addr string) time.Duration {
	if t == nil {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	l := t.limits
	wait := t.untilBelow("pair:"+email+"\x00"+addr, l.PairMax, now)
	if addr != "" {
		wait = max(wait, t.untilBelow("addr:"+addr, l.AddrMax, now))
	}
	if l.EmailSlowAfter > 0 && !t.isKnown(email, addr, now) {
		if recent := t.recent("email:"+email, now); len(recent) >= l.EmailSlowAfter {
			delay := l.MaxDelay
			if shift := len(recent) - l.EmailSlowAfter; shift < 32 {
				delay = min(time.Second<<shift, l.MaxDelay)
			}
			wait = max(wait, recent[len(recent)-1].Add(delay).Sub(now))
		}
	}
	return max(wait, 0)
}

// untilBelow returns how long until key has fewer than limit failures.
func (t *Throttle) untilBelow(key string, limit int, now time.Time) time.Duration {
	if limit <= 0 {
		return 0
	}
	recent := t.recent(key, now)
	if len(recent) < limit {
		return 0
	}
	return recent[len(recent)-limit].Add(t.limits.Window).Sub(now)
}

// Fail records a failed login of email from addr.
func (t *Throttle) Fail(email, addr string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.now()
	l := t.limits
	t.add("pair:"+email+"\x00"+addr, l.PairMax, now)
	if addr != "" {
		t.add("addr:"+addr, l.AddrMax, now)
	}
	// Past the threshold only the doubling matters, which stops at MaxDelay.
	t.add("email:"+email, l.EmailSlowAfter+32, now)
	if now.Sub(t.swept) > l.Window {
		t.sweep(now)
	}
}

// Succeeded forgets the failures of email from addr and remembers addr
// as one the e-mail's owner uses. The address's own failures stay: one
// good account must not excuse an address that guesses others.
func (t *Throttle) Succeeded(email, addr string) {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.fails, "pair:"+email+"\x00"+addr)
	if addr == "" {
		return
	}
	now := t.now()
	addrs := t.known[email]
	if addrs == nil {
		addrs = map[string]time.Time{}
		t.known[email] = addrs
	}
	addrs[addr] = now
	for len(addrs) > knownPerEmail {
		var oldest string
		for a, at := range addrs {
			if oldest == "" || at.Before(addrs[oldest]) {
				oldest = a
			}
		}
		delete(addrs, oldest)
	}
}

func (t *Throttle) isKnown(email, addr string, now time.Time) bool {
	at, ok := t.known[email][addr]
	return ok && now.Sub(at) < knownFor
}

// add records a failure of key, keeping at most keep of the latest.
func (t *Throttle) add(key string, keep int, now time.Time) {
	if keep <= 0 {
		return
	}
	list := append(t.recent(key, now), now)
	if len(list) > keep {
		list = list[len(list)-keep:]
	}
	t.fails[key] = list
}

// recent drops key's failures older than the window and returns the rest.
func (t *Throttle) recent(key string, now time.Time) []time.Time {
	list := t.fails[key]
	i := 0
	for i < len(list) && now.Sub(list[i]) >= t.limits.Window {
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

// sweep drops keys whose failures have all left the window and addresses
// no longer known, so memory follows recent attackers and users only.
func (t *Throttle) sweep(now time.Time) {
	for k := range t.fails {
		t.recent(k, now)
	}
	for email, addrs := range t.known {
		for a, at := range addrs {
			if now.Sub(at) >= knownFor {
				delete(addrs, a)
			}
		}
		if len(addrs) == 0 {
			delete(t.known, email)
		}
	}
	t.swept = now
}
