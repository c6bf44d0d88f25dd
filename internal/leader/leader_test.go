package leader_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/leader"
)

const lease = 9 * time.Second

// clock is a settable clock shared by the electors of a test.
type clock struct{ now atomic.Int64 }

func (c *clock) Now() time.Time          { return time.Unix(0, c.now.Load()) }
func (c *clock) advance(d time.Duration) { c.now.Add(int64(d)) }

func elector(t *testing.T, url, id, machine, driver string, c *clock) *leader.Elector {
	return leader.New(apitest.MustOpenDB(t, url), leader.Config{
		Instance: id, Machine: machine, Driver: driver, LocalDriver: "local", Lease: lease, Clock: c.Now,
	}, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// TestLeaseMovesWhenTheLeaderStopsRenewing: one leader at a time; the
// other takes over once the lease has expired, and the old leader, back,
// learns it lost.
func TestLeaseMovesWhenTheLeaderStopsRenewing(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		ctx := context.Background()
		c := &clock{}
		c.now.Store(time.Now().UnixNano())
		a := elector(t, url, "a", "m1", "local", c)
		b := elector(t, url, "b", "m1", "local", c)
		var aLed, bLed int
		if err := a.Try(ctx, func() { aLed++ }); err != nil || !a.Leading() || aLed != 1 {
			t.Fatalf("a: %v leading %v led %d", err, a.Leading(), aLed)
		}
		if err := b.Try(ctx, func() { bLed++ }); err != nil || b.Leading() || bLed != 0 || b.Holder() != "a" {
			t.Fatalf("b: %v leading %v led %d holder %q", err, b.Leading(), bLed, b.Holder())
		}
		// Renewing keeps the lease past its first expiry.
		c.advance(lease / 3)
		if err := a.Try(ctx, func() { aLed++ }); err != nil || !a.Leading() || aLed != 1 {
			t.Fatalf("a renewing: %v leading %v led %d", err, a.Leading(), aLed)
		}
		c.advance(lease - time.Second)
		if err := b.Try(ctx, func() { bLed++ }); err != nil || b.Leading() {
			t.Fatalf("b before the renewed lease ends: %v leading %v", err, b.Leading())
		}
		c.advance(2 * time.Second)
		if err := b.Try(ctx, func() { bLed++ }); err != nil || !b.Leading() || bLed != 1 {
			t.Fatalf("b after the lease: %v leading %v led %d", err, b.Leading(), bLed)
		}
		if err := a.Try(ctx, func() { aLed++ }); !errors.Is(err, leader.ErrLost) || a.Leading() {
			t.Fatalf("a after losing: %v leading %v", err, a.Leading())
		}
		if err := b.Release(ctx); err != nil {
			t.Fatal(err)
		}
		if err := a.Try(ctx, func() { aLed++ }); err != nil || !a.Leading() || aLed != 2 {
			t.Fatalf("a after the release: %v leading %v led %d", err, a.Leading(), aLed)
		}
	})
}

// TestLocalDriverOnOneMachine: an instance with the local driver on
// another machine, or another driver, is refused while one is live; once
// its record is older than the lease, it is not.
func TestLocalDriverOnOneMachine(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		ctx := context.Background()
		c := &clock{}
		c.now.Store(time.Now().UnixNano())
		if err := elector(t, url, "a", "m1", "local", c).Register(ctx); err != nil {
			t.Fatal(err)
		}
		if err := elector(t, url, "same-machine", "m1", "local", c).Register(ctx); err != nil {
			t.Fatalf("same machine: %v", err)
		}
		err := elector(t, url, "b", "m2", "local", c).Register(ctx)
		if err == nil || !strings.Contains(err.Error(), "local runtime driver") || !strings.Contains(err.Error(), "m2") {
			t.Fatalf("another machine: %v", err)
		}
		if err := elector(t, url, "c", "m1", "none", c).Register(ctx); err == nil || !strings.Contains(err.Error(), "same driver") {
			t.Fatalf("another driver: %v", err)
		}
		c.advance(lease + time.Second)
		if err := elector(t, url, "b", "m2", "local", c).Register(ctx); err != nil {
			t.Fatalf("after the others' records aged: %v", err)
		}
	})
}
