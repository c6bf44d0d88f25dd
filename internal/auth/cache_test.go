package auth

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/neuais/neuais/models"
)

type countingAuth struct{ calls atomic.Int64 }

func (c *countingAuth) Authenticate(_ context.Context, raw string) (*models.Identity, error) {
	c.calls.Add(1)
	if raw == "bad" {
		return nil, models.ErrUnauthorized
	}
	return &models.Identity{UserID: raw, Role: models.RoleViewer}, nil
}

func TestCache(t *testing.T) {
	next := &countingAuth{}
	var changes atomic.Int64
	now := time.Unix(1_000_000, 0)
	c := NewCache(next, func(context.Context) (int64, error) { return changes.Load(), nil }, time.Minute, 2, func() time.Time { return now })
	ctx := context.Background()
	auth := func(raw string) *models.Identity {
		t.Helper()
		id, err := c.Authenticate(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	auth("a").Role = models.RoleAdmin // callers may change what they get
	if id := auth("a"); id.Role != models.RoleViewer || next.calls.Load() != 1 {
		t.Fatalf("second call: %+v, %d loads", id, next.calls.Load())
	}
	changes.Add(1)
	if auth("a"); next.calls.Load() != 2 {
		t.Fatal("a change did not reload")
	}
	now = now.Add(time.Minute)
	if auth("a"); next.calls.Load() != 3 {
		t.Fatal("the TTL did not reload")
	}
	auth("b")
	auth("c")
	if len(c.entries) != 2 {
		t.Fatalf("%d entries over a bound of 2", len(c.entries))
	}
	for range 2 {
		if _, err := c.Authenticate(ctx, "bad"); err == nil {
			t.Fatal("refusal passed")
		}
	}
	if next.calls.Load() != 7 {
		t.Fatalf("%d loads: refusals are not cached", next.calls.Load())
	}
}
