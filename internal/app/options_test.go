package app_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/app"
	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/ratelimit"
	"github.com/neuais/neuais/models"
)

// Two instances in one process given one in-process bus and one limiter
// behave as one: a stream on B sees what A does, and requests to both
// count in one window.
func TestGivenCollaboratorsAreShared(t *testing.T) {
	dbURL := apitest.PostgresURL(t)
	bus := events.NewInProcess(0)
	t.Cleanup(func() { bus.Close() })
	limiter := ratelimit.NewMemory(time.Minute, nil)
	logins := auth.NewMemoryLogins()
	start := func() *apitest.Server {
		cfg := apitest.Config(dbURL, t.TempDir())
		cfg.JWTSecret = "shared-jwt-secret-of-two-instances-0123456789"
		cfg.SecretKey = base64.StdEncoding.EncodeToString(make([]byte, 32))
		cfg.RateLimitMin = config.Default().RateLimitMin
		return apitest.StartConfig(t, cfg, app.WithBus(bus), app.WithLimits(limiter, logins))
	}
	a, b := start(), start()

	t.Run("BothPublishOnTheGivenBus", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		sub, err := bus.Subscribe(ctx, events.EventLogTopic)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range []*apitest.Server{a, b} {
			created := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, map[string]any{
				"name": fmt.Sprintf("on-the-bus-%d", i), "runtime": "go", "binary_url": "https://example.com/a"})
			if created.Status != http.StatusCreated {
				t.Fatalf("create: %d %s", created.Status, created.Body)
			}
			select {
			case <-sub.C:
			case <-ctx.Done():
				t.Fatal("no event log wake-up on the given bus")
			}
		}
	})

	t.Run("OneWindowForBoth", func(t *testing.T) {
		u := a.CreateOrg("shared-window", "shared@example.com", models.TierFree)
		// The 150 requests must fall into one window of the minute.
		if left := time.Until(time.Now().Truncate(time.Minute).Add(time.Minute)); left < 20*time.Second {
			time.Sleep(left)
		}
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			accepted int
		)
		for i := range 150 {
			wg.Go(func() {
				res := []*apitest.Server{a, b}[i%2].Do(http.MethodGet, "/v1/agents", u.Token, nil)
				mu.Lock()
				defer mu.Unlock()
				if res.Status == http.StatusOK {
					accepted++
				} else if res.Status != http.StatusTooManyRequests {
					t.Errorf("%d %s", res.Status, res.Body)
				}
			})
		}
		wg.Wait()
		if accepted != 100 {
			t.Fatalf("%d accepted over both instances, want 100", accepted)
		}
	})
}
