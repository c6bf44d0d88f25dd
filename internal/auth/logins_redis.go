package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisLogins is a LoginStore in Redis, so that failures on one API
// instance count on every other. Each key's failures are a sorted set
// scored by microseconds since the epoch, each e-mail's known addresses
// another; the keys expire once nothing in them counts any more.
type RedisLogins struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRedisLogins keeps the store in rdb under keys starting with prefix.
func NewRedisLogins(rdb redis.UniversalClient, prefix string) *RedisLogins {
	return &RedisLogins{rdb: rdb, prefix: prefix + "login:"}
}

func micros(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

// Failures implements LoginStore.
func (r *RedisLogins) Failures(ctx context.Context, key string, since time.Time) ([]time.Time, error) {
	zs, err := r.rdb.ZRangeByScoreWithScores(ctx, r.prefix+"fail:"+key, &redis.ZRangeBy{Min: "(" + micros(since), Max: "+inf"}).Result()
	if err != nil {
		return nil, fmt.Errorf("auth: login failures: %w", err)
	}
	list := make([]time.Time, len(zs))
	for i, z := range zs {
		list[i] = time.UnixMicro(int64(z.Score))
	}
	return list, nil
}

// AddFailure implements LoginStore. Members are unique (the time and a
// random tag), so that failures at the same instant on two instances
// both count.
func (r *RedisLogins) AddFailure(ctx context.Context, key string, at, since time.Time, keep int) error {
	k := r.prefix + "fail:" + key
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, k, redis.Z{Score: float64(at.UnixMicro()), Member: micros(at) + "-" + rand.Text()})
		p.ZRemRangeByScore(ctx, k, "-inf", micros(since))
		p.ZRemRangeByRank(ctx, k, 0, int64(-keep-1))
		p.PExpire(ctx, k, at.Sub(since))
		return nil
	})
	if err != nil {
		return fmt.Errorf("auth: record a login failure: %w", err)
	}
	return nil
}

// Forget implements LoginStore.
func (r *RedisLogins) Forget(ctx context.Context, key string) error {
	if err := r.rdb.Del(ctx, r.prefix+"fail:"+key).Err(); err != nil {
		return fmt.Errorf("auth: forget login failures: %w", err)
	}
	return nil
}

// LastLogin implements LoginStore.
func (r *RedisLogins) LastLogin(ctx context.Context, email, addr string) (time.Time, error) {
	score, err := r.rdb.ZScore(ctx, r.prefix+"known:"+email, addr).Result()
	if errors.Is(err, redis.Nil) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("auth: known addresses: %w", err)
	}
	return time.UnixMicro(int64(score)), nil
}

// Remember implements LoginStore.
func (r *RedisLogins) Remember(ctx context.Context, email, addr string, at time.Time) error {
	k := r.prefix + "known:" + email
	_, err := r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZAdd(ctx, k, redis.Z{Score: float64(at.UnixMicro()), Member: addr})
		p.ZRemRangeByScore(ctx, k, "-inf", micros(at.Add(-knownFor)))
		p.ZRemRangeByRank(ctx, k, 0, -knownPerEmail-1)
		p.PExpire(ctx, k, knownFor)
		return nil
	})
	if err != nil {
		return fmt.Errorf("auth: remember a login address: %w", err)
	}
	return nil
}
