package app

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/neuais/neuais/models"
	"github.com/neuais/neuais/rest"
	"github.com/neuais/neuais/web"
)

// clientAddr records the caller's host for per-address limits. The
// connection's peer is used; proxy headers are not trusted.
func clientAddr(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		next.ServeHTTP(w, r.WithContext(models.WithClientAddr(r.Context(), host)))
	})
}

// rateLimit counts every request against its organization's limit, or its
// address's when it carries no valid token, and answers 429 over it. Every
// counted response carries the X-RateLimit-* headers. Probes and the
// browser pages' static files (web.Public) are not counted.
func (a *App) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" || web.Public(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		key, limit := "addr:"+models.ClientAddrFrom(ctx), a.Config.AnonymousRateLimit
		if id := models.IdentityFrom(ctx); id != nil {
			key, limit = "org:"+id.OrgID, id.RateLimit
			if limit <= 0 {
				limit = models.TierFree.DefaultRateLimit()
			}
		}
		limit = max(limit, a.Config.RateLimitMin)
		d, err := a.Limiter.Allow(ctx, key, limit)
		if err != nil {
			// Fail open: a broken shared counter must not take the API down.
			a.Logger.ErrorContext(ctx, "rate limit", "err", err)
			next.ServeHTTP(w, r)
			return
		}
		// Set as keys, not through Set, to keep the contract's spelling
		// (Set would write X-Ratelimit-Limit); header names match case-insensitively.
		h := w.Header()
		h["X-RateLimit-Limit"] = []string{strconv.Itoa(d.Limit)}
		h["X-RateLimit-Remaining"] = []string{strconv.Itoa(d.Remaining)}
		h["X-RateLimit-Reset"] = []string{strconv.FormatInt(d.Reset.Unix(), 10)}
		if d.Allowed {
			next.ServeHTTP(w, r)
			return
		}
		retry := max(1, int((time.Until(d.Reset)+time.Second-1)/time.Second))
		e := &models.Error{
			Code:    models.CodeRateLimitExceeded,
			Message: fmt.Sprintf("Rate limit of %d requests per minute exceeded", d.Limit),
			Details: map[string]any{"retry_after": retry},
		}
		if r.URL.Path == "/graphql" || r.URL.Path == "/v1/graphql" {
			writeGraphQLError(w, http.StatusTooManyRequests, e)
			return
		}
		rest.WriteError(w, e)
	})
}

// writeGraphQLError answers a GraphQL request refused before execution in
// the GraphQL response shape.
func writeGraphQLError(w http.ResponseWriter, status int, e *models.Error) {
	if retry, ok := e.Details["retry_after"]; ok {
		w.Header().Set("Retry-After", fmt.Sprint(retry))
	}
	ext := map[string]any{"code": e.Code}
	if len(e.Details) > 0 {
		ext["details"] = e.Details
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{"message": e.Message, "extensions": ext}}})
}
