package gqlws

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/gqlserver"
	"github.com/neuais/neuais/models"
)

// Guard checks every operation on a WebSocket connection: the caller's
// identity is asked for again through the same Authenticator as HTTP
// requests, so a role change, a password change or a deletion after
// connection_init applies to the next operation; a connection without an
// identity runs no operation (unauthorized). Add it to the handler and
// give its InitFunc to the transport (Transport does).
type Guard struct {
	present graphql.ErrorPresenterFunc
	id      auth.Authenticator
}

// NewGuard returns the guard of connections authenticated by id; logger
// records internal failures.
func NewGuard(id auth.Authenticator, logger *slog.Logger) *Guard {
	return &Guard{present: gqlserver.ErrorPresenter(logger), id: id}
}

var (
	_ graphql.HandlerExtension          = (*Guard)(nil)
	_ graphql.OperationParameterMutator = (*Guard)(nil)
	_ graphql.OperationInterceptor      = (*Guard)(nil)
)

// conn is what a guard keeps of one connection.
type conn struct{}

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
			return ctx, nil, errors.New("authentication failed")
		}
		if _, err := models.RequireIdentity(ctx); err != nil {
			return ctx, nil, err
		}
	}
	return context.WithValue(ctx, connKey{}, &conn{}), nil, nil
}

// MutateOperationParameters checks a connection's operation before it is
// parsed: the caller's current identity, or unauthorized.
func (g *Guard) MutateOperationParameters(ctx context.Context, _ *graphql.RawParams) *gqlerror.Error {
	if _, ok := ctx.Value(connKey{}).(*conn); !ok {
		return nil // not a WebSocket operation: the HTTP middleware checked it
	}
	ctx, err := auth.Refresh(ctx, g.id)
	if err != nil {
		return g.present(ctx, err)
	}
	id, err := models.RequireIdentity(ctx)
	if err != nil {
		return g.present(ctx, err)
	}
	graphql.GetOperationContext(ctx).Stats.SetExtension(callerStat, id)
	return nil
}

// InterceptOperation runs a connection's operation as its checked caller.
func (g *Guard) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	id, ok := graphql.GetOperationContext(ctx).Stats.GetExtension(callerStat).(*models.Identity)
	if !ok {
		return next(ctx)
	}
	return next(models.WithIdentity(ctx, id))
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
