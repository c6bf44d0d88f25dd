package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/ratelimit"
)

func TestMemory(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 30, 0, time.UTC)
	m := ratelimit.NewMemory(time.Minute, func() time.Time { return now })
	ctx := context.Background()
	allow := func(key string) ratelimit.Decision {
		d, err := m.Allow(ctx, key, 3)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	t.Run("CountsDown", func(t *testing.T) {
		for want := 2; want >= 0; want-- {
			if d := allow("a"); !d.Allowed || d.Remaining != want || d.Limit != 3 || !d.Reset.Equal(time.Date(2026, 1, 1, 12, 1, 0, 0, time.UTC)) {
				t.Fatalf("%+v, want remaining %d", d, want)
			}
		}
	})
	t.Run("ErrOverLimit", func(t *testing.T) {
		if d := allow("a"); d.Allowed || d.Remaining != 0 {
			t.Fatalf("%+v", d)
		}
	})
	t.Run("KeysAreSeparate", func(t *testing.T) {
		if d := allow("b"); !d.Allowed || d.Remaining != 2 {
			t.Fatalf("%+v", d)
		}
	})
	t.Run("NextWindowStartsAgain", func(t *testing.T) {
		now = now.Add(30 * time.Second)
		if d := allow("a"); !d.Allowed || d.Remaining != 2 {
			t.Fatalf("%+v", d)
		}
	})
}

func TestShortWindow(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 3, 0, time.UTC)
	m := ratelimit.NewMemory(2*time.Second, func() time.Time { return now })
	d, err := m.Allow(context.Background(), "a", 1)
	if err != nil || !d.Allowed || d.Window != 2*time.Second || !d.Reset.Equal(time.Date(2026, 1, 1, 12, 0, 4, 0, time.UTC)) {
		t.Fatalf("%+v %v", d, err)
	}
	if d, _ = m.Allow(context.Background(), "a", 1); d.Allowed {
		t.Fatalf("second request allowed: %+v", d)
	}
	if e := ratelimit.Exceeded(d); e.Message != "Rate limit of 1 requests per 2s exceeded" {
		t.Fatalf("message %q", e.Message)
	}
	if e := ratelimit.Exceeded(ratelimit.Decision{Limit: 5, Window: time.Minute}); e.Message != "Rate limit of 5 requests per minute exceeded" {
		t.Fatalf("message %q", e.Message)
	}
	now = now.Add(time.Second)
	if d, _ = m.Allow(context.Background(), "a", 1); !d.Allowed {
		t.Fatalf("next window refused: %+v", d)
	}
}
