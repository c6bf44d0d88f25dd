package gqlws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/gqlserver"
	"github.com/neuais/neuais/internal/ratelimit"
	"github.com/neuais/neuais/models"
)

// Guard checks every operation on a WebSocket connection as the HTTP
// middleware checks a request. The caller's identity is asked for again
// through the same Authenticator, so a role change, a password change or a
// deletion after connection_init applies to the next operation. Every
// operation (a subscription when it opens) counts against the caller's
// rate limit, with the HTTP requests' keys; over it the operation gets
// rate_limit_exceeded and the connection stays open. A connection without
// an identity runs no operation (unauthorized): it may only authenticate,
// in connection_init. Subscriptions open at once are bounded per
// connection and per user. Add the guard to the handler and give its
// InitFunc to the transport (Transport does).
type Guard struct {
	id      auth.Authenticator
	limits  Limits
	present graphql.ErrorPresenterFunc
	logger  *slog.Logger

	mu    sync.Mutex
	users map[string]int // open subscriptions per user, over its connections
}

// Limits bound what a connection may do.
type Limits struct {
	Limiter ratelimit.Limiter
	Policy  ratelimit.Policy
	// Subscriptions open at once on one connection and for one user
	// (in this process: counts of open streams, unlike the rate limit,
	// are not shared between instances).
	SubscriptionsPerConnection int
	SubscriptionsPerUser       int
	// Refused, when set, is called for each operation the rate limit
	// refuses (the refusals counter HTTP's 429s go to).
	Refused func()
}

// NewGuard returns the guard of connections authenticated by id; its
// refusals are presented as schema's errors are, and logger records
// internal failures.
func NewGuard(id auth.Authenticator, limits Limits, schema *ast.Schema, logger *slog.Logger) *Guard {
	return &Guard{id: id, limits: limits, present: gqlserver.ErrorPresenter(schema, logger), logger: logger, users: map[string]int{}}
}

var (
	_ graphql.HandlerExtension          = (*Guard)(nil)
	_ graphql.OperationParameterMutator = (*Guard)(nil)
	_ graphql.OperationInterceptor      = (*Guard)(nil)
)

// conn is what a guard keeps of one connection.
type conn struct {
	subscriptions int // open; guarded by Guard.mu
}

type connKey struct{}

// callerStat names the operation's checked identity among its stats, from
// MutateOperationParameters to InterceptOperation.
const callerStat = "gqlws.caller"

// ExtensionName implements graphql.HandlerExtension.
func (*Guard) ExtensionName() string { return "WebSocketGuard" }

// Validate implements graphql.HandlerExtension.
func (*Guard) Validate(graphql.ExecutableSchema) error { return nil }

// InitFunc authenticates a connection by the token in connection_init's
// payload (Authorization or authorization, with or without "Bearer ", or
// token); without one, the token of the upgrade request's Authorization
// header stays. A refused token refuses the connection.
func (g *Guard) InitFunc(ctx context.Context, payload transport.InitPayload) (context.Context, *transport.InitPayload, error) {
	raw := payload.Authorization()
	if raw == "" {
		raw = payload.GetString("token")
	}
	if raw != "" {
		if token, ok := auth.BearerToken(raw); ok {
			raw = token
		}
		var err error
		if ctx, err = auth.Identify(ctx, g.id, raw); err != nil {
			g.logger.ErrorContext(ctx, "authenticate", "err", err)
			return ctx, nil, errors.New("authentication failed")
		}
		if _, err := models.RequireIdentity(ctx); err != nil {
			return ctx, nil, err
		}
	}
	return context.WithValue(ctx, connKey{}, &conn{}), nil, nil
}

// MutateOperationParameters checks a connection's operation before it is
// parsed: the caller's current identity, its rate limit, then unauthorized
// without an identity (counted against the client address first, as an
// HTTP request without a token is).
func (g *Guard) MutateOperationParameters(ctx context.Context, _ *graphql.RawParams) *gqlerror.Error {
	if _, ok := ctx.Value(connKey{}).(*conn); !ok {
		return nil // not a WebSocket operation: the HTTP middleware checked it
	}
	ctx, err := auth.Refresh(ctx, g.id)
	if err != nil {
		return g.present(ctx, err)
	}
	key, limit := g.limits.Policy.Key(models.IdentityFrom(ctx), models.ClientAddrFrom(ctx))
	d, err := g.limits.Limiter.Allow(ctx, key, limit)
	switch {
	case err != nil:
		// Fail open, as the HTTP middleware does.
		g.logger.ErrorContext(ctx, "rate limit", "err", err)
	case !d.Allowed:
		if g.limits.Refused != nil {
			g.limits.Refused()
		}
		return g.present(ctx, ratelimit.Exceeded(d))
	}
	id, err := models.RequireIdentity(ctx)
	if err != nil {
		return g.present(ctx, err)
	}
	graphql.GetOperationContext(ctx).Stats.SetExtension(callerStat, id)
	return nil
}

// InterceptOperation runs a connection's operation as its checked caller,
// and opens a subscription only within the bounds, until it ends.
func (g *Guard) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	id, ok := oc.Stats.GetExtension(callerStat).(*models.Identity)
	c, onConn := ctx.Value(connKey{}).(*conn)
	if !ok || !onConn {
		return next(ctx)
	}
	ctx = models.WithIdentity(ctx, id)
	if oc.Operation.Operation == ast.Subscription {
		if err := g.open(c, id.UserID); err != nil {
			return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{g.present(ctx, err)}})
		}
		// Released when the stream ends, before the transport sends
		// complete, or at the latest when the transport cancels the
		// operation's context.
		var once sync.Once
		release := func() { once.Do(func() { g.close(c, id.UserID) }) }
		context.AfterFunc(ctx, release)
		responses := next(ctx)
		return func(ctx context.Context) *graphql.Response {
			resp := responses(ctx)
			if resp == nil {
				release()
			}
			return resp
		}
	}
	return next(ctx)
}

// open counts one more subscription of user on c, or refuses it with
// rate_limit_exceeded when c or user holds the most allowed.
func (g *Guard) open(c *conn, user string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if limit := g.limits.SubscriptionsPerConnection; c.subscriptions >= limit {
		return tooManySubscriptions(limit, "connection")
	}
	if limit := g.limits.SubscriptionsPerUser; g.users[user] >= limit {
		return tooManySubscriptions(limit, "user")
	}
	c.subscriptions++
	g.users[user]++
	return nil
}

func (g *Guard) close(c *conn, user string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c.subscriptions--
	if g.users[user]--; g.users[user] <= 0 {
		delete(g.users, user)
	}
}

func tooManySubscriptions(limit int, per string) *models.Error {
	return &models.Error{
		Code:    models.CodeRateLimitExceeded,
		Message: fmt.Sprintf("At most %d subscriptions may be open per %s; stop one first", limit, per),
		Details: map[string]any{"limit": limit},
	}
}

// Transport returns the WebSocket transport: both protocols, keep-alives
// every keepAlive (graphql-ws "ka" messages; graphql-transport-ws pings
// whose missing pongs close the connection), a 10s connection_init
// timeout and a 64 KiB message limit; g authenticates connections.
func Transport(impl Gorilla, g *Guard, keepAlive time.Duration) transport.Websocket {
	limit := int64(64 << 10)
	return transport.Websocket{
		Implementation:        impl,
		InitFunc:              g.InitFunc,
		InitTimeout:           10 * time.Second,
		KeepAlivePingInterval: keepAlive,
		PingPongInterval:      keepAlive,
		PayloadReadLimit:      &limit,
	}
}
