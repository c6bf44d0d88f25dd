package auth_test

import (
	"testing"
	"time"

	"github.com/neuais/neuais/internal/auth"
)

func TestThrottle(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	th := auth.NewThrottle(3, 15*time.Minute, func() time.Time { return now })
	for i := range 3 {
		if wait := th.Blocked("a"); wait != 0 {
			t.Fatalf("blocked after %d failures", i)
		}
		th.Fail("a", "addr")
		now = now.Add(time.Minute)
	}
	t.Run("BlockedAtMax", func(t *testing.T) {
		// Failures at 12:00, 12:01, 12:02; now 12:03: free at 12:15.
		if wait := th.Blocked("a"); wait != 12*time.Minute {
			t.Fatalf("wait %v", wait)
		}
		if wait := th.Blocked("other", "addr"); wait != 12*time.Minute {
			t.Fatalf("address not blocked: %v", wait)
		}
	})
	t.Run("OtherKeysFree", func(t *testing.T) {
		if wait := th.Blocked("b"); wait != 0 {
			t.Fatalf("wait %v", wait)
		}
	})
	t.Run("ResetForgets", func(t *testing.T) {
		th.Reset("a")
		if wait := th.Blocked("a"); wait != 0 {
			t.Fatalf("wait %v", wait)
		}
		if wait := th.Blocked("addr"); wait == 0 {
			t.Fatal("reset of one key freed another")
		}
	})
	t.Run("WindowSlides", func(t *testing.T) {
		now = now.Add(12 * time.Minute)
		if wait := th.Blocked("addr"); wait != 0 {
			t.Fatalf("wait %v", wait)
		}
	})
	t.Run("ZeroDisables", func(t *testing.T) {
		off := auth.NewThrottle(0, time.Minute, nil)
		off.Fail("a")
		if off.Blocked("a") != 0 {
			t.Fatal("disabled throttle blocked")
		}
	})
}
