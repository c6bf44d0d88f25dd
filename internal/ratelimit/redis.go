package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a fixed-window counter in Redis shared by every API instance.
// Windows follow the Redis server's clock (TIME), the one clock all
// instances see, so that they agree on when a window ends to the
// microsecond whatever their own clocks' drift.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
	window time.Duration
	now    func() time.Time
}

// NewRedis counts in windows of the given length (whole seconds, aligned
// to the Unix epoch) under keys starting with prefix. now may be nil: the
// server's clock.
func NewRedis(rdb redis.UniversalClient, prefix string, window time.Duration, now func() time.Time) *Redis {
	return &Redis{rdb: rdb, prefix: prefix + "rate:", window: window, now: now}
}

// allowScript counts one request in KEYS[1], a hash of the window it
// counts (w) and the count (n), atomically: reading the clock, starting
// the window and counting are one step on the server. ARGV: the limit,
// the window in seconds and, when not empty, the time in seconds and
// microseconds instead of TIME. A refused request does not count. The key
// expires when its window ends; a single key per caller keeps the script
// to the keys it declares.
var allowScript = redis.NewScript(`
local sec, usec
if ARGV[3] == '' then
  local t = redis.call('TIME')
  sec, usec = tonumber(t[1]), tonumber(t[2])
else
  sec, usec = tonumber(ARGV[3]), tonumber(ARGV[4])
end
local limit, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local start = sec - sec % window
local stored = redis.call('HMGET', KEYS[1], 'w', 'n')
local n = 0
if tonumber(stored[1]) == start then
  n = tonumber(stored[2])
end
if n >= limit then
  return {0, n, start + window}
end
n = n + 1
redis.call('HSET', KEYS[1], 'w', start, 'n', n)
redis.call('PEXPIRE', KEYS[1], (start + window - sec) * 1000 - math.floor(usec / 1000))
return {1, n, start + window}
`)

// Allow counts a request for key. A refused request does not count.
func (r *Redis) Allow(ctx context.Context, key string, limit int) (Decision, error) {
	args := []any{limit, int64(r.window / time.Second), "", ""}
	if r.now != nil {
		now := r.now()
		args[2], args[3] = now.Unix(), now.Nanosecond()/1000
	}
	res, err := allowScript.Run(ctx, r.rdb, []string{r.prefix + key}, args...).Int64Slice()
	if err != nil {
		return Decision{}, fmt.Errorf("ratelimit: redis: %w", err)
	}
	d := Decision{Limit: limit, Reset: time.Unix(res[2], 0), Window: r.window}
	if res[0] == 1 {
		d.Allowed = true
		d.Remaining = limit - int(res[1])
	}
	return d, nil
}
