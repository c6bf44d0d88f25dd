// Package streams gives GraphQL subscriptions a final event: when a
// subscription's channel closes for a reason the client should know (its
// token expired, the agent was deleted, it fell behind, the server is
// shutting down), the transports send one last response carrying that
// error before they complete the stream. It works for every transport,
// WebSocket, SSE and REST's follow=true, because it sits in the executor.
package streams

import (
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// Extension is the gqlgen extension; add it to the handler and to the
// executor that REST uses.
type Extension struct{}

var (
	_ graphql.HandlerExtension     = Extension{}
	_ graphql.OperationInterceptor = Extension{}
	_ graphql.ResponseInterceptor  = Extension{}
)

type endKey struct{}

// end holds the reason a subscription ended, asked for once its stream closes.
type end struct {
	mu       sync.Mutex
	reason   func() error
	reported bool
}

// ExtensionName implements graphql.HandlerExtension.
func (Extension) ExtensionName() string { return "StreamEnd" }

// Validate implements graphql.HandlerExtension.
func (Extension) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation gives every subscription a place for its end reason.
func (Extension) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if oc := graphql.GetOperationContext(ctx); oc.Operation != nil && oc.Operation.Operation == ast.Subscription {
		ctx = context.WithValue(ctx, endKey{}, &end{})
	}
	return next(ctx)
}

// InterceptResponse turns the end of a stream that has a reason into one
// last response with that error, presented like any other.
func (Extension) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if resp != nil {
		return resp
	}
	e, _ := ctx.Value(endKey{}).(*end)
	if e == nil {
		return nil
	}
	e.mu.Lock()
	reason, reported := e.reason, e.reported
	e.reported = true
	e.mu.Unlock()
	if reported || reason == nil {
		return nil
	}
	err := reason()
	if err == nil {
		return nil
	}
	graphql.AddError(ctx, err)
	return &graphql.Response{Errors: graphql.GetErrors(ctx)}
}

// OnEnd registers, from a subscription resolver, the function that says why
// its stream ended (nil for an end the client asked for). It is called once
// the resolver's channel is closed.
func OnEnd(ctx context.Context, reason func() error) {
	if e, _ := ctx.Value(endKey{}).(*end); e != nil {
		e.mu.Lock()
		e.reason = reason
		e.mu.Unlock()
	}
}
