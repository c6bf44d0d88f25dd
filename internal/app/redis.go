package app

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/internal/ratelimit"
)

// openLimits sets the rate limiter and returns the login throttle's
// store: those given, in this process, or in Redis (NEUAIS_REDIS_URL) where every
// instance counts together. An unreachable Redis does not stop the start:
// requests pass uncounted and logins wait for it (see rateLimit and
// auth.Service.Login), and the "ratelimit" service reports it.
func (a *App) openLimits(ctx context.Context, with given) (auth.LoginStore, error) {
	cfg := a.Config
	if with.limiter != nil {
		a.Limiter = with.limiter
		return with.logins, nil
	}
	if cfg.RedisURL == "" {
		a.Limiter = ratelimit.NewMemory(cfg.RateLimitWindow, nil)
		return auth.NewMemoryLogins(), nil
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		// url.Error quotes the URL, password included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("app: NEUAIS_REDIS_URL: %w", err)
	}
	// Every request waits for its count: unless the URL says otherwise an
	// unreachable server costs one about 2 s, not go-redis's 5 s dial
	// three times over.
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 500 * time.Millisecond
	}
	if opts.ReadTimeout == 0 {
		opts.ReadTimeout = 500 * time.Millisecond
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = 1
	}
	a.redis = redis.NewClient(opts)
	a.closing(a.redis.Close)
	if err := a.redis.Ping(ctx).Err(); err != nil {
		a.Logger.ErrorContext(ctx, "redis unreachable: requests pass uncounted and logins are refused until it answers", "err", err)
	}
	a.Limiter = ratelimit.NewRedis(a.redis, cfg.RedisPrefix, cfg.RateLimitWindow, nil)
	a.Health.Register(health.Component{Name: "ratelimit", Check: a.checkRedis, Version: Version, Started: a.Started})
	return auth.NewRedisLogins(a.redis, cfg.RedisPrefix), nil
}

// checkRedis is degraded while Redis does not answer: the API serves,
// without rate limits, but refuses logins.
func (a *App) checkRedis(ctx context.Context) (health.Status, string) {
	if err := a.redis.Ping(ctx).Err(); err != nil {
		a.Logger.ErrorContext(ctx, "redis ping", "err", err)
		return health.Degraded, "redis unreachable: rate limits not counted, logins refused"
	}
	return health.Healthy, ""
}
