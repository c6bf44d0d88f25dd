package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/models"
)

func TestLoginThrottle(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url, func(c *config.Config) {
			c.LoginMaxFailures, c.LoginAddrMaxFailures, c.LoginEmailSlowAfter = 3, 3, 6
		})
		dev := s.CreateUser(s.AdminToken, "dev@example.com", models.RoleDeveloper)
		login := func(email, password string) *apitest.Response {
			return s.Do(http.MethodPost, "/v1/auth/token", "", map[string]string{"email": email, "password": password})
		}
		at := func(addr string) context.Context { return models.WithClientAddr(context.Background(), addr) }
		t.Run("ServiceThrottlesPerEmailAndAddress", func(t *testing.T) {
			u := s.CreateUser(s.AdminToken, "pair@example.com", models.RoleViewer)
			for i := range 3 {
				if _, err := s.App.Auth.Login(at("192.0.2.10"), u.Email, "wrong-password"); models.ErrorCode(err) != models.CodeUnauthorized {
					t.Fatalf("failure %d: %v", i, err)
				}
			}
			if _, err := s.App.Auth.Login(at("192.0.2.10"), u.Email, apitest.UserPassword); models.ErrorCode(err) != models.CodeRateLimitExceeded {
				t.Fatalf("fourth attempt from the same address: %v", err)
			}
			if _, err := s.App.Auth.Login(at("192.0.2.11"), u.Email, apitest.UserPassword); err != nil {
				t.Fatalf("the owner elsewhere is locked out: %v", err)
			}
		})
		t.Run("NoLockoutByOutsiders", func(t *testing.T) {
			if _, err := s.App.Auth.Login(at("192.0.2.50"), dev.Email, apitest.UserPassword); err != nil {
				t.Fatal(err)
			}
			// Failures from many addresses, up to the e-mail's threshold (6).
			for i := range 6 {
				_, err := s.App.Auth.Login(at("192.0.2."+strconv.Itoa(i+1)), dev.Email, "wrong-password")
				if models.ErrorCode(err) != models.CodeUnauthorized {
					t.Fatalf("failure %d: %v", i, err)
				}
			}
			lastFailure := time.Now()
			_, err := s.App.Auth.Login(at("192.0.2.60"), dev.Email, apitest.UserPassword)
			var coded *models.Error
			switch {
			case err == nil && time.Since(lastFailure) < time.Second:
				t.Fatal("a new address is not slowed down after the e-mail's threshold")
			case err != nil && (!errors.As(err, &coded) || coded.Code != models.CodeRateLimitExceeded || coded.Details["retry_after"].(int) > 1):
				t.Fatalf("a new address should wait one second: %v", err)
			}
			if _, err := s.App.Auth.Login(at("192.0.2.50"), dev.Email, apitest.UserPassword); err != nil {
				t.Fatalf("the owner's known address is locked out: %v", err)
			}
		})
		t.Run("ServiceThrottlesPerAddress", func(t *testing.T) {
			ctx := models.WithClientAddr(context.Background(), "198.51.100.7")
			for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
				if _, err := s.App.Auth.Login(ctx, email, "wrong-password"); models.ErrorCode(err) != models.CodeUnauthorized {
					t.Fatalf("%s: %v", email, err)
				}
			}
			if _, err := s.App.Auth.Login(ctx, apitest.AdminEmail, apitest.AdminPassword); models.ErrorCode(err) != models.CodeRateLimitExceeded {
				t.Fatalf("blocked address logged in: %v", err)
			}
			if _, err := s.App.Auth.Login(models.WithClientAddr(context.Background(), "198.51.100.8"), apitest.AdminEmail, apitest.AdminPassword); err != nil {
				t.Fatalf("other address refused: %v", err)
			}
		})
		t.Run("SuccessForgivesEmail", func(t *testing.T) {
			u := s.CreateUser(s.AdminToken, "forgiven@example.com", models.RoleViewer)
			for round := range 3 {
				for i := range 2 {
					addr := "203.0.113." + strconv.Itoa(round*2+i+1)
					if _, err := s.App.Auth.Login(models.WithClientAddr(context.Background(), addr), u.Email, "wrong-password"); models.ErrorCode(err) != models.CodeUnauthorized {
						t.Fatalf("round %d: %v", round, err)
					}
				}
				if _, err := s.App.Auth.Login(models.WithClientAddr(context.Background(), "203.0.113.100"), u.Email, apitest.UserPassword); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
		})
		t.Run("REST429WithRetryAfter", func(t *testing.T) {
			for range 3 {
				if res := login(apitest.AdminEmail, "wrong-password"); res.Status != 401 {
					t.Fatalf("%d %s", res.Status, res.Body)
				}
			}
			res := login(apitest.AdminEmail, apitest.AdminPassword)
			retry, _ := strconv.Atoi(res.Header.Get("Retry-After"))
			if res.Status != 429 || res.ErrorCode() != "rate_limit_exceeded" || retry < 1 || retry > 15*60 {
				t.Fatalf("%d %v %s", res.Status, res.Header, res.Body)
			}
		})
		t.Run("GraphQLThrottledAlike", func(t *testing.T) {
			raw := s.Do(http.MethodPost, "/graphql", "", map[string]any{"query": `mutation { createToken(email: "someone@example.com", password: "whatever-1") { accessToken } }`})
			var res apitest.GraphQLResponse
			if err := json.Unmarshal(raw.Body, &res); err != nil {
				t.Fatal(err)
			}
			details, _ := res.Errors[0].Extensions["details"].(map[string]any)
			if res.Code() != "rate_limit_exceeded" || details["retry_after"] == nil || raw.Header.Get("Retry-After") == "" {
				t.Fatalf("%v %+v", raw.Header, res.Errors)
			}
		})
	})
}

// limitHeaders reads the X-RateLimit-* headers of a response.
func limitHeaders(t *testing.T, res *apitest.Response) (limit, remaining int, reset int64) {
	t.Helper()
	var err1, err2, err3 error
	limit, err1 = strconv.Atoi(res.Header.Get("X-RateLimit-Limit"))
	remaining, err2 = strconv.Atoi(res.Header.Get("X-RateLimit-Remaining"))
	reset, err3 = strconv.ParseInt(res.Header.Get("X-RateLimit-Reset"), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		t.Fatalf("rate limit headers missing: %v", res.Header)
	}
	return limit, remaining, reset
}

// exhaust sends requests until one is refused, starting again when the
// window turns over meanwhile, and returns the refusal.
func exhaust(t *testing.T, limit int, send func() *apitest.Response) *apitest.Response {
	t.Helper()
	for try := 0; try < 2; try++ {
		var window int64
		for i := 0; i <= limit; i++ {
			sent := time.Now()
			res := send()
			got, remaining, reset := limitHeaders(t, res)
			if window == 0 {
				window = reset
			} else if reset != window {
				break // the window turned over: counts started again
			}
			if got != limit {
				t.Fatalf("X-RateLimit-Limit %d, want %d", got, limit)
			}
			// The window may end while the answer travels: it must end
			// after the request was sent, not after it was answered.
			if reset <= sent.Unix() || reset > time.Now().Unix()+61 {
				t.Fatalf("X-RateLimit-Reset %d is not within the next minute", reset)
			}
			if res.Status == http.StatusTooManyRequests {
				if remaining != 0 {
					t.Fatalf("refused with %d remaining", remaining)
				}
				return res
			}
		}
	}
	t.Fatalf("no request refused within a limit of %d", limit)
	return nil
}

func TestRateLimits(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		t.Run("PerOrganizationTier", func(t *testing.T) {
			// The bootstrap organization is enterprise, here at 100 a minute.
			s := apitest.Start(t, url, func(c *config.Config) { c.RateLimitMin = 0; c.AnonymousRateLimit = 1000; c.BootstrapRateLimit = 100 })
			pro := s.CreateOrg("pro", "pro-admin@example.com", models.TierPro)
			var res, gql *apitest.Response
			for try := 0; ; try++ {
				res = exhaust(t, 100, func() *apitest.Response { return s.Do("GET", "/v1/users?fields=id", s.AdminToken, nil) })
				gql = s.Do("POST", "/graphql", s.AdminToken, map[string]any{"query": "{ me { id } }"})
				_, _, refused := limitHeaders(t, res)
				// A window that turned over between the two starts the count again.
				if _, _, asked := limitHeaders(t, gql); asked == refused || try == 1 {
					break
				}
			}
			retry, _ := strconv.Atoi(res.Header.Get("Retry-After"))
			if res.ErrorCode() != "rate_limit_exceeded" || retry < 1 || retry > 60 {
				t.Fatalf("%v %s", res.Header, res.Body)
			}
			var body apitest.GraphQLResponse
			if err := json.Unmarshal(gql.Body, &body); err != nil || gql.Status != 429 || body.Code() != "rate_limit_exceeded" {
				t.Fatalf("GraphQL over the limit: %d %s", gql.Status, gql.Body)
			}
			other := s.Do("GET", "/v1/users", pro.Token, nil)
			if limit, remaining, _ := limitHeaders(t, other); other.Status != 200 || limit != 1000 || remaining != 999 {
				t.Fatalf("pro organization: %d %v", other.Status, other.Header)
			}
		})
		t.Run("ConfiguredWindow", func(t *testing.T) {
			s := apitest.Start(t, url, func(c *config.Config) {
				c.RateLimitMin = 0
				c.AnonymousRateLimit = 3
				c.RateLimitWindow = 2 * time.Second
			})
			sent := time.Now()
			res := exhaust(t, 3, func() *apitest.Response { return s.Do("GET", "/v1/services", "", nil) })
			_, _, reset := limitHeaders(t, res)
			retry, _ := strconv.Atoi(res.Header.Get("Retry-After"))
			if reset > sent.Unix()+3 || retry < 1 || retry > 2 {
				t.Fatalf("a 2s window: reset %d (sent at %d), Retry-After %d", reset, sent.Unix(), retry)
			}
			apitest.Eventually(t, 5*time.Second, "the next 2s window", func() bool {
				return s.Do("GET", "/v1/services", "", nil).Status != http.StatusTooManyRequests
			})
		})
		t.Run("PerAddressWithoutToken", func(t *testing.T) {
			s := apitest.Start(t, url, func(c *config.Config) { c.RateLimitMin = 0; c.AnonymousRateLimit = 5 })
			res := exhaust(t, 5, func() *apitest.Response { return s.Do("GET", "/v1/services", "", nil) })
			if res.ErrorCode() != "rate_limit_exceeded" || res.Header.Get("Retry-After") == "" {
				t.Fatalf("%v %s", res.Header, res.Body)
			}
			if res := s.Do("GET", "/v1/services", s.AdminToken, nil); res.Status != 200 {
				t.Fatalf("organization limited with the address: %d %s", res.Status, res.Body)
			}
			if res := s.Do("GET", "/healthz", "", nil); res.Status != 200 {
				t.Fatalf("probe limited: %d", res.Status)
			}
		})
	})
}
