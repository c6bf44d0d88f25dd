// Package gqlserver builds the GraphQL HTTP handler and the in-process
// executor that rest/ uses, both over one executable schema with the same
// error presenter, limits and caches.
package gqlserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/neuais/neuais/internal/streams"
	"github.com/neuais/neuais/models"
)

// Options configure both the HTTP handler and the executor.
type Options struct {
	ComplexityLimit int
	DepthLimit      int
	Introspection   bool
	Logger          *slog.Logger
}

// Validate reports what is missing or out of range.
func (o Options) Validate() error {
	var errs []error
	if o.ComplexityLimit < 1 {
		errs = append(errs, errors.New("gqlserver: ComplexityLimit must be at least 1"))
	}
	if o.DepthLimit < 1 {
		errs = append(errs, errors.New("gqlserver: DepthLimit must be at least 1"))
	}
	if o.Logger == nil {
		errs = append(errs, errors.New("gqlserver: Logger is required"))
	}
	return errors.Join(errs...)
}

const (
	queryCacheSize = 1000
	// parserTokenLimit bounds a /graphql document before validation, whose
	// check of same-named fields is quadratic (10000 "id"s: seconds of
	// CPU, from an anonymous request); GraphiQL's introspection query is
	// about 150 tokens.
	parserTokenLimit = 1000
)

// configurable is what handler.Server and executor.Executor have in common.
type configurable interface {
	Use(graphql.HandlerExtension)
	SetErrorPresenter(graphql.ErrorPresenterFunc)
	SetRecoverFunc(graphql.RecoverFunc)
	SetQueryCache(graphql.Cache[*ast.QueryDocument])
}

func configure(c configurable, schema *ast.Schema, o Options) {
	c.SetErrorPresenter(ErrorPresenter(schema, o.Logger))
	c.SetRecoverFunc(recoverFunc(o.Logger))
	c.SetQueryCache(lru.New[*ast.QueryDocument](queryCacheSize))
	if o.Introspection {
		c.Use(extension.Introspection{})
	}
	c.Use(KeepVariables())
	c.Use(streams.Extension{})
	c.Use(DepthLimit(o.DepthLimit, o.Introspection))
	c.Use(RejectNUL())
}

// NewHandler returns the GraphQL HTTP server without transports; the
// caller adds exactly the transports it serves. o must be valid.
func NewHandler(es graphql.ExecutableSchema, o Options) *handler.Server {
	srv := handler.New(es)
	configure(srv, es.Schema(), o)
	// Only here: REST runs the route table's own documents, whose lists
	// its validation bounds.
	srv.Use(extension.FixedComplexityLimit(o.ComplexityLimit))
	srv.SetParserTokenLimit(parserTokenLimit)
	srv.Use(extension.AutomaticPersistedQuery{Cache: lru.New[string](queryCacheSize)})
	return srv
}

// NewExecutor returns an executor for in-process operations (REST). o
// must be valid.
func NewExecutor(es graphql.ExecutableSchema, o Options) *executor.Executor {
	exec := executor.New(es)
	configure(exec, es.Schema(), o)
	return exec
}

// ErrorPresenter copies a models.Error's code into extensions.code and its
// details, field and reason into extensions.details (an empty object when
// there are none), and turns every uncoded error into internal_error,
// logged once and never shown. Parse, validation and limit errors become
// invalid_request; a variable that does not coerce is restated in client
// terms (input.role must be one of admin, developer, viewer). The presented
// error wraps the coded error it shows, for in-process callers (REST).
func ErrorPresenter(schema *ast.Schema, logger *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		var coded *models.Error
		if errors.As(err, &coded) {
			gqlErr := graphql.DefaultErrorPresenter(ctx, err)
			if coded.Field == "" && coded.Reason != "" {
				coded = inputError(coded, gqlErr.Path)
			}
			return present(gqlErr, coded, nil)
		}
		var gqlErr *gqlerror.Error
		if errors.As(err, &gqlErr) && gqlErr.Err == nil {
			// Errors gqlgen made itself: parse, validation, variables, limits.
			var graphqlCode any
			if c, ok := gqlErr.Extensions["code"].(string); ok && c != "" {
				graphqlCode = c
			}
			coded := &models.Error{Code: models.CodeInvalidRequest, Message: gqlErr.Message}
			if field := variableField(gqlErr.Path); field != "" {
				// Restated only where the check finds the same fault: a NUL
				// character (RejectNUL) coerces fine.
				if coded = variableError(ctx, schema); coded == nil || coded.Field != field {
					coded = &models.Error{Code: models.CodeInvalidRequest, Field: field, Reason: gqlErr.Message}
				}
			}
			return present(gqlErr, coded, graphqlCode)
		}
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			// The client went away mid-operation: nobody reads this answer.
			logger.DebugContext(ctx, "operation canceled", "path", graphql.GetPath(ctx).String())
		} else {
			logger.ErrorContext(ctx, "internal error", "err", err, "path", graphql.GetPath(ctx).String())
		}
		presented := graphql.DefaultErrorPresenter(ctx, errors.New("internal server error"))
		return present(presented, models.Errorf(models.CodeInternal, "internal server error"), nil)
	}
}

// present returns a copy of gqlErr showing coded: its message, code and
// details; graphqlCode, when set, keeps gqlgen's own code as
// extensions.graphql_code.
func present(gqlErr *gqlerror.Error, coded *models.Error, graphqlCode any) *gqlerror.Error {
	presented := *gqlErr
	presented.Err = coded
	presented.Message = coded.MessageFor(coded.Field)
	presented.Extensions = map[string]any{"code": coded.Code, "details": coded.DetailsFor(coded.Field)}
	if graphqlCode != nil {
		presented.Extensions["graphql_code"] = graphqlCode
	}
	return &presented
}

// inputError names the field of an invalid_request raised while an
// argument is decoded (a scalar's unmarshaler, which cannot know its
// field) from the input path [field, argument, input fields…], the way
// domain errors name input fields (environment, config.replicas).
func inputError(coded *models.Error, path ast.Path) *models.Error {
	var parts []string
	if len(path) > 2 {
		for _, p := range path[2:] {
			switch p := p.(type) {
			case ast.PathName:
				parts = append(parts, string(p))
			case ast.PathIndex:
				parts = append(parts, fmt.Sprint(int(p)))
			}
		}
	}
	if len(parts) == 0 {
		return coded
	}
	named := *coded
	named.Field = strings.Join(parts, ".")
	return &named
}

// variableField returns "input.name" for a variable-coercion error path
// ["variable","input","name"], and "" for other paths.
func variableField(path ast.Path) string {
	if len(path) < 2 || path[0] != ast.PathName("variable") {
		return ""
	}
	parts := make([]string, 0, len(path)-1)
	for _, p := range path[1:] {
		switch p := p.(type) {
		case ast.PathName:
			parts = append(parts, string(p))
		case ast.PathIndex:
			parts = append(parts, fmt.Sprint(int(p)))
		}
	}
	return strings.Join(parts, ".")
}

func recoverFunc(logger *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		logger.ErrorContext(ctx, "panic in resolver", "panic", p, "stack", string(debug.Stack()))
		return fmt.Errorf("panic: %v", p)
	}
}
