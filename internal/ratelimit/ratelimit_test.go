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
