package ratelimit

import (
	"fmt"
	"time"

	"github.com/neuais/neuais/models"
)

// Policy decides what a caller counts against: a caller with an identity
// its organization's limit (the free tier's when unset), one without its
// client address at Anonymous; no limit is below Min. HTTP requests and
// WebSocket operations share it, so one caller has one count.
type Policy struct {
	Anonymous int
	Min       int
}

// Key returns the counter and the per-window limit of the caller id (nil
// without a valid token) at client address addr.
func (p Policy) Key(id *models.Identity, addr string) (key string, limit int) {
	key, limit = "addr:"+addr, p.Anonymous
	if id != nil {
		key, limit = "org:"+id.OrgID, id.RateLimit
		if limit <= 0 {
			limit = models.TierFree.DefaultRateLimit()
		}
	}
	return key, max(limit, p.Min)
}

// Exceeded is the error of a refused request: rate_limit_exceeded with
// details.retry_after, the whole seconds until d's window ends (at least 1).
func Exceeded(d Decision) *models.Error {
	retry := max(1, int((time.Until(d.Reset)+time.Second-1)/time.Second))
	per := "minute"
	if d.Window != time.Minute {
		per = d.Window.String()
	}
	return &models.Error{
		Code:    models.CodeRateLimitExceeded,
		Message: fmt.Sprintf("Rate limit of %d requests per %s exceeded", d.Limit, per),
		Details: map[string]any{"retry_after": retry},
	}
}
