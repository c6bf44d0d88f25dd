package ratelimit_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/ratelimit"
	"github.com/neuais/neuais/internal/redistest"
)

func TestRedis(t *testing.T) {
	rdb, prefix := redistest.Client(t), redistest.Prefix(t)
	now := time.Date(2026, 1, 1, 12, 0, 30, 0, time.UTC)
	r := ratelimit.NewRedis(rdb, prefix, time.Minute, func() time.Time { return now })
	ctx := context.Background()
	allow := func(key string, limit int) ratelimit.Decision {
		t.Helper()
		d, err := r.Allow(ctx, key, limit)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	minute := func(m int) time.Time { return time.Date(2026, 1, 1, 12, m, 0, 0, time.UTC) }
	t.Run("CountsDown", func(t *testing.T) {
		for want := 2; want >= 0; want-- {
			if d := allow("a", 3); !d.Allowed || d.Remaining != want || d.Limit != 3 || d.Window != time.Minute || !d.Reset.Equal(minute(1)) {
				t.Fatalf("%+v, want remaining %d", d, want)
			}
		}
	})
	t.Run("RefusedOverLimitUncounted", func(t *testing.T) {
		for range 2 {
			if d := allow("a", 3); d.Allowed || d.Remaining != 0 || !d.Reset.Equal(minute(1)) {
				t.Fatalf("%+v", d)
			}
		}
		// Refusals did not count: a raised limit lets exactly one more in.
		if d := allow("a", 4); !d.Allowed || d.Remaining != 0 {
			t.Fatalf("%+v", d)
		}
	})
	t.Run("KeysAreSeparate", func(t *testing.T) {
		if d := allow("b", 3); !d.Allowed || d.Remaining != 2 {
			t.Fatalf("%+v", d)
		}
	})
	t.Run("WindowBoundary", func(t *testing.T) {
		now = minute(1).Add(-time.Microsecond)
		if d := allow("c", 1); !d.Allowed || !d.Reset.Equal(minute(1)) {
			t.Fatalf("last microsecond of the window: %+v", d)
		}
		if d := allow("c", 1); d.Allowed {
			t.Fatalf("second request in the window: %+v", d)
		}
		now = minute(1)
		if d := allow("c", 1); !d.Allowed || d.Remaining != 0 || !d.Reset.Equal(minute(2)) {
			t.Fatalf("first microsecond of the next window: %+v", d)
		}
	})
	t.Run("KeyExpiresWithItsWindow", func(t *testing.T) {
		now = minute(1).Add(59*time.Second + 250*time.Millisecond)
		allow("d", 1)
		ttl, err := rdb.PTTL(ctx, prefix+"rate:d").Result()
		if err != nil || ttl <= 0 || ttl > 750*time.Millisecond {
			t.Fatalf("ttl %v %v, want at most the window's last 750ms", ttl, err)
		}
	})
}

// TestRedisServerClock counts on the server's clock: the window reported
// is the one TIME is in.
func TestRedisServerClock(t *testing.T) {
	rdb, prefix := redistest.Client(t), redistest.Prefix(t)
	ctx := context.Background()
	r := ratelimit.NewRedis(rdb, prefix, 2*time.Second, nil)
	for {
		before, err := rdb.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		d, err := r.Allow(ctx, "a", 10)
		if err != nil {
			t.Fatal(err)
		}
		after, err := rdb.Time(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		end := before.Truncate(2 * time.Second).Add(2 * time.Second)
		if !after.Before(end) {
			continue // a window ended during the request: which one it counted in is unknown
		}
		if !d.Allowed || !d.Reset.Equal(end) || d.Reset.Unix()%2 != 0 {
			t.Fatalf("%+v, server time %v: want reset %v", d, before, end)
		}
		return
	}
}

// TestRedisShared counts 150 concurrent requests over two limiters on
// two connections: exactly the limit is allowed, each remaining count
// answered once.
func TestRedisShared(t *testing.T) {
	prefix := redistest.Prefix(t)
	now := time.Date(2026, 1, 1, 12, 0, 30, 0, time.UTC)
	clock := func() time.Time { return now }
	limiters := []ratelimit.Limiter{
		ratelimit.NewRedis(redistest.Client(t), prefix, time.Minute, clock),
		ratelimit.NewRedis(redistest.Client(t), prefix, time.Minute, clock),
	}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		remaining = map[int]int{}
		refused   int
	)
	for i := range 150 {
		wg.Go(func() {
			d, err := limiters[i%2].Allow(context.Background(), "org:shared", 100)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Error(err)
			case d.Allowed:
				remaining[d.Remaining]++
			default:
				refused++
			}
		})
	}
	wg.Wait()
	if len(remaining) != 100 || refused != 50 {
		t.Fatalf("%d distinct remaining counts allowed, %d refused; want 100 and 50", len(remaining), refused)
	}
	for n := range 100 {
		if remaining[n] != 1 {
			t.Fatalf("remaining %d answered %d times", n, remaining[n])
		}
	}
}
