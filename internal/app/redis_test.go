package app_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/internal/redistest"
	"github.com/neuais/neuais/models"
)

// twoInstances starts two servers on one PostgreSQL database and one
// Redis key prefix, with the contract's rate limits, as two instances
// behind a load balancer.
func twoInstances(t *testing.T, configure func(*config.Config)) (a, b *apitest.Server) {
	t.Helper()
	dbURL, redisURL, prefix := apitest.PostgresURL(t), redistest.URL(t), redistest.Prefix(t)
	start := func() *apitest.Server {
		cfg := apitest.Config(dbURL, t.TempDir())
		cfg.JWTSecret = "shared-jwt-secret-of-two-instances-0123456789"
		cfg.SecretKey = base64.StdEncoding.EncodeToString(make([]byte, 32))
		// A loaded test machine must not turn a slow answer into an
		// uncounted request.
		cfg.RedisURL, cfg.RedisPrefix = withQuery(redisURL, "read_timeout=10s"), prefix
		cfg.RateLimitMin = config.Default().RateLimitMin
		configure(&cfg)
		return apitest.StartConfig(t, cfg)
	}
	return start(), start()
}

func TestRedisLimitsAcrossInstances(t *testing.T) {
	a, b := twoInstances(t, func(c *config.Config) { c.LoginMaxFailures = 3 })
	servers := []*apitest.Server{a, b}

	t.Run("FreeOrganizationGetsExactly100", func(t *testing.T) {
		u := a.CreateOrg("free", "free@example.com", models.TierFree)
		windowEnd := strconv.FormatInt(freshWindow(t).Unix(), 10)
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			remaining = map[string]int{}
			refused   []*apitest.Response
			resets    = map[string]bool{}
		)
		for i := range 150 {
			wg.Go(func() {
				res := servers[i%2].Do(http.MethodGet, "/v1/agents", u.Token, nil)
				mu.Lock()
				defer mu.Unlock()
				resets[res.Header.Get("X-RateLimit-Reset")] = true
				switch res.Status {
				case http.StatusOK:
					remaining[res.Header.Get("X-RateLimit-Remaining")]++
				case http.StatusTooManyRequests:
					refused = append(refused, res)
				default:
					t.Errorf("%d %s", res.Status, res.Body)
				}
			})
		}
		wg.Wait()
		if len(resets) != 1 || !resets[windowEnd] {
			t.Fatalf("resets %v, want only the window's end %s", resets, windowEnd)
		}
		if len(remaining) != 100 || len(refused) != 50 {
			t.Fatalf("%d distinct remaining counts accepted, %d refused; want 100 and 50", len(remaining), len(refused))
		}
		for n := range 100 {
			if remaining[strconv.Itoa(n)] != 1 {
				t.Fatalf("remaining %d answered %d times", n, remaining[strconv.Itoa(n)])
			}
		}
		for _, res := range refused {
			retry, err := strconv.Atoi(res.Header.Get("Retry-After"))
			if res.ErrorCode() != models.CodeRateLimitExceeded || res.Header.Get("X-RateLimit-Limit") != "100" ||
				res.Header.Get("X-RateLimit-Remaining") != "0" || err != nil || retry < 1 || retry > 60 {
				t.Fatalf("refusal: %v %s", res.Header, res.Body)
			}
		}
	})

	t.Run("RevokedTokenRefusedOnBoth", func(t *testing.T) {
		res := a.Do(http.MethodPost, "/v1/tokens", a.AdminToken, map[string]any{"name": "revoked", "role": "viewer"})
		if res.Status != http.StatusCreated {
			t.Fatalf("%d %s", res.Status, res.Body)
		}
		tok := res.JSON(t)
		secret, id := tok["token"].(string), tok["id"].(string)
		for _, s := range servers {
			if res := s.Do(http.MethodGet, "/v1/agents", secret, nil); res.Status != http.StatusOK {
				t.Fatalf("before the revocation: %d %s", res.Status, res.Body)
			}
		}
		if res := a.Do(http.MethodDelete, "/v1/tokens/"+id, a.AdminToken, nil); res.Status != http.StatusOK {
			t.Fatalf("revoke: %d %s", res.Status, res.Body)
		}
		for i, s := range []*apitest.Server{b, a} {
			if res := s.Do(http.MethodGet, "/v1/agents", secret, nil); res.Status != http.StatusUnauthorized {
				t.Fatalf("instance %d after the revocation: %d %s", i, res.Status, res.Body)
			}
		}
	})

	t.Run("LoginFailuresCountOnEveryInstance", func(t *testing.T) {
		u := a.CreateUser(a.AdminToken, "guessed@example.com", models.RoleViewer)
		login := func(s *apitest.Server, password string) *apitest.Response {
			return s.Do(http.MethodPost, "/v1/auth/token", "", map[string]string{"email": u.Email, "password": password})
		}
		for i, s := range []*apitest.Server{a, b, a} {
			if res := login(s, "wrong-password"); res.Status != http.StatusUnauthorized {
				t.Fatalf("failure %d: %d %s", i, res.Status, res.Body)
			}
		}
		// Three failures of the pair over both instances: the limit.
		for _, s := range servers {
			if res := login(s, apitest.UserPassword); res.Status != http.StatusTooManyRequests || res.ErrorCode() != models.CodeRateLimitExceeded {
				t.Fatalf("after three failures: %d %s", res.Status, res.Body)
			}
		}
	})
}

// withQuery adds the option q to a Redis URL.
func withQuery(url, q string) string {
	if strings.Contains(url, "?") {
		return url + "&" + q
	}
	return url + "?" + q
}

// freshWindow returns the end of the minute on the Redis server's clock
// (the one windows follow), first waiting for the next minute when this
// one has less than 20 s left: a burst must fall in one window to be
// counted against one limit.
func freshWindow(t *testing.T) time.Time {
	t.Helper()
	now, err := redistest.Client(t).Time(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	end := now.Truncate(time.Minute).Add(time.Minute)
	if left := end.Sub(now); left < 20*time.Second {
		time.Sleep(left)
		end = end.Add(time.Minute)
	}
	return end
}

// TestRedisDown serves requests uncounted while Redis is unreachable,
// refuses logins rather than counting none, and reports the ratelimit
// service degraded until Redis answers.
func TestRedisDown(t *testing.T) {
	url, cut := redistest.Proxy(t)
	s := apitest.Start(t, "sqlite:"+t.TempDir()+"/test.db", func(c *config.Config) {
		// No retries: each request tries Redis once.
		c.RedisURL, c.RedisPrefix = withQuery(url, "max_retries=-1"), redistest.Prefix(t)
	})
	service := func() string {
		res := s.Do(http.MethodGet, "/v1/services/ratelimit/status", s.AdminToken, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("%d %s", res.Status, res.Body)
		}
		return res.JSON(t)["status"].(string)
	}
	if res := s.Do(http.MethodGet, "/v1/agents", s.AdminToken, nil); res.Status != http.StatusOK || res.Header.Get("X-RateLimit-Remaining") == "" {
		t.Fatalf("with Redis: %d %v", res.Status, res.Header)
	}
	if got := service(); got != "healthy" {
		t.Fatalf("with Redis: ratelimit %s", got)
	}
	cut()
	if res := s.Do(http.MethodGet, "/v1/agents", s.AdminToken, nil); res.Status != http.StatusOK || res.Header.Get("X-RateLimit-Remaining") != "" {
		t.Fatalf("without Redis: %d %v", res.Status, res.Header)
	}
	if got := service(); got != "degraded" {
		t.Fatalf("without Redis: ratelimit %s", got)
	}
	res := s.Do(http.MethodPost, "/v1/auth/token", "", map[string]string{"email": apitest.AdminEmail, "password": apitest.AdminPassword})
	if res.Status != http.StatusServiceUnavailable || res.ErrorCode() != models.CodeServiceUnavailable {
		t.Fatalf("login without Redis: %d %s", res.Status, res.Body)
	}
}
