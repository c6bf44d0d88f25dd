package app

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/neuais/neuais/internal/ratelimit"
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
		key, limit := a.rateLimits().Key(models.IdentityFrom(ctx), models.ClientAddrFrom(ctx))
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
		a.refusals.Inc()
		e := ratelimit.Exceeded(d)
		if r.URL.Path == "/graphql" || r.URL.Path == "/v1/graphql" {
			writeGraphQLError(w, http.StatusTooManyRequests, e)
			return
		}
		rest.WriteError(w, e)
	})
}

// rateLimits is what callers count against, for requests and WebSocket
// operations alike.
func (a *App) rateLimits() ratelimit.Policy {
	return ratelimit.Policy{Anonymous: a.Config.AnonymousRateLimit, Min: a.Config.RateLimitMin}
}

// writeGraphQLError answers a GraphQL request refused before execution in
// the GraphQL response shape.
func writeGraphQLError(w http.ResponseWriter, status int, e *models.Error) {
	if retry, ok := e.Details["retry_after"]; ok {
		w.Header().Set("Retry-After", fmt.Sprint(retry))
	}
	ext := map[string]any{"code": e.Code, "details": e.DetailsFor(e.Field)}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{"message": e.MessageFor(e.Field), "extensions": ext}}})
}
