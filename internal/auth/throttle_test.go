package auth_test

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/redistest"
	"github.com/neuais/neuais/models"
)

// TestThrottle runs the throttle's rules on each store: in memory, and in
// Redis through two connections, failing on one and checked on the other
// as two API instances would.
func TestThrottle(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		testThrottle(t, func(*testing.T) (auth.LoginStore, auth.LoginStore) {
			m := auth.NewMemoryLogins()
			return m, m
		})
	})
	t.Run("redis", func(t *testing.T) {
		testThrottle(t, func(t *testing.T) (auth.LoginStore, auth.LoginStore) {
			prefix := redistest.Prefix(t)
			return auth.NewRedisLogins(redistest.Client(t), prefix), auth.NewRedisLogins(redistest.Client(t), prefix)
		})
	})
}

// throttle records failures through one store and checks through another.
type throttle struct {
	t          *testing.T
	fail, read *auth.Throttle
}

func (th throttle) Fail(email, addr string) {
	th.t.Helper()
	if err := th.fail.Fail(context.Background(), email, addr); err != nil {
		th.t.Fatal(err)
	}
}

func (th throttle) Succeeded(email, addr string) {
	th.t.Helper()
	if err := th.fail.Succeeded(context.Background(), email, addr); err != nil {
		th.t.Fatal(err)
	}
}

func (th throttle) Blocked(email, addr string) time.Duration {
	th.t.Helper()
	wait, err := th.read.Blocked(context.Background(), email, addr)
	if err != nil {
		th.t.Fatal(err)
	}
	return wait
}

func testThrottle(t *testing.T, stores func(*testing.T) (auth.LoginStore, auth.LoginStore)) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	limits := auth.LoginLimits{PairMax: 3, AddrMax: 6, EmailSlowAfter: 10, Window: 15 * time.Minute, MaxDelay: 30 * time.Second}
	newThrottle := func(t *testing.T, limits auth.LoginLimits, clock func() time.Time) throttle {
		a, b := stores(t)
		return throttle{t: t, fail: auth.NewThrottle(limits, a, slog.Default(), clock), read: auth.NewThrottle(limits, b, slog.Default(), clock)}
	}

	t.Run("PairBlockedAtMax", func(t *testing.T) {
		th := newThrottle(t, limits, clock)
		for i := range 3 {
			if wait := th.Blocked("a", "addr1"); wait != 0 {
				t.Fatalf("blocked after %d failures", i)
			}
			th.Fail("a", "addr1")
			now = now.Add(time.Minute)
		}
		// Failures at 12:00, 12:01, 12:02; now 12:03: free at 12:15.
		if wait := th.Blocked("a", "addr1"); wait != 12*time.Minute {
			t.Fatalf("wait %v", wait)
		}
		if wait := th.Blocked("a", "addr2"); wait != 0 {
			t.Fatalf("the e-mail is locked for every address: %v", wait)
		}
		if wait := th.Blocked("b", "addr1"); wait != 0 {
			t.Fatalf("the address is blocked for other e-mails below its own limit: %v", wait)
		}
		now = now.Add(12 * time.Minute)
		if wait := th.Blocked("a", "addr1"); wait != 0 {
			t.Fatalf("window did not slide: %v", wait)
		}
	})
	t.Run("AddressGuessingManyAccountsBlocked", func(t *testing.T) {
		th := newThrottle(t, limits, clock)
		for i := range 6 {
			th.Fail("user"+strconv.Itoa(i), "guesser")
		}
		if wait := th.Blocked("someone-else", "guesser"); wait != 15*time.Minute {
			t.Fatalf("wait %v", wait)
		}
		if wait := th.Blocked("someone-else", "honest"); wait != 0 {
			t.Fatalf("other address blocked: %v", wait)
		}
	})
	t.Run("NoOutsiderLockout", func(t *testing.T) {
		th := newThrottle(t, limits, clock)
		th.Succeeded("owner", "home")
		// An attacker fails from 9 addresses: below the e-mail's threshold,
		// nothing slows the e-mail down at all.
		for i := range 9 {
			th.Fail("owner", "bot"+strconv.Itoa(i))
		}
		if wait := th.Blocked("owner", "new-place"); wait != 0 {
			t.Fatalf("below the e-mail threshold: %v", wait)
		}
		// From then on each failure doubles the delay for unknown addresses.
		for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second} {
			th.Fail("owner", "bot"+strconv.Itoa(100+i))
			if wait := th.Blocked("owner", "new-place"); wait != want {
				t.Fatalf("after %d failures: wait %v, want %v", 10+i, wait, want)
			}
			if wait := th.Blocked("owner", "home"); wait != 0 {
				t.Fatalf("the owner's known address waits %v", wait)
			}
		}
		now = now.Add(30 * time.Second)
		if wait := th.Blocked("owner", "new-place"); wait != 0 {
			t.Fatalf("delay did not pass: %v", wait)
		}
	})
	t.Run("SuccessForgivesPairNotAddress", func(t *testing.T) {
		th := newThrottle(t, auth.LoginLimits{PairMax: 2, AddrMax: 3, Window: time.Minute, MaxDelay: time.Second}, clock)
		th.Fail("a", "x")
		th.Fail("a", "x")
		th.Succeeded("a", "x")
		if wait := th.Blocked("a", "x"); wait != 0 {
			t.Fatalf("pair not forgiven: %v", wait)
		}
		th.Fail("b", "x")
		if wait := th.Blocked("c", "x"); wait == 0 {
			t.Fatal("a good login excused the address's other failures")
		}
	})
	t.Run("ZeroDisables", func(t *testing.T) {
		th := newThrottle(t, auth.LoginLimits{Window: time.Minute, MaxDelay: time.Second}, clock)
		for range 100 {
			th.Fail("a", "x")
		}
		if wait := th.Blocked("a", "x"); wait != 0 {
			t.Fatalf("disabled throttle blocked: %v", wait)
		}
	})
	t.Run("MemoryBounded", func(t *testing.T) {
		th := newThrottle(t, limits, clock)
		for i := range 10_000 {
			th.Fail("victim", "bot"+strconv.Itoa(i))
		}
		// Only the latest failures are kept: the delay is the capped one.
		if wait := th.Blocked("victim", "new"); wait != 30*time.Second {
			t.Fatalf("wait %v", wait)
		}
	})
}

// TestThrottleStoreDown refuses logins while the store is unreachable
// rather than letting attempts through uncounted.
func TestThrottleStoreDown(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	th := auth.NewThrottle(auth.LoginLimits{PairMax: 1, Window: time.Minute, MaxDelay: time.Second}, auth.NewRedisLogins(rdb, "down:"), slog.Default(), nil)
	svc := auth.NewService(nil, nil, nil, th)
	_, err := svc.Login(models.WithClientAddr(context.Background(), "192.0.2.1"), "a@example.com", "password")
	var coded *models.Error
	if !errors.As(err, &coded) || coded.Code != models.CodeServiceUnavailable {
		t.Fatalf("login with the throttle's store down: %v", err)
	}
}
