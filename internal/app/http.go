package app

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/gqlserver"
	"github.com/neuais/neuais/internal/gqlws"
	"github.com/neuais/neuais/migrations"
	"github.com/neuais/neuais/models"
	"github.com/neuais/neuais/rest"
	"github.com/neuais/neuais/web"
)

func (a *App) newGraphQLHandler(es graphql.ExecutableSchema, opts gqlserver.Options) (*handler.Server, error) {
	srv := gqlserver.NewHandler(es, opts)
	metrics, err := gqlserver.NewMetrics(a.Registry)
	if err != nil {
		return nil, err
	}
	srv.Use(metrics)
	guard := gqlws.NewGuard(a.Identity, gqlws.Limits{
		Limiter:                    a.Limiter,
		Policy:                     a.rateLimits(),
		SubscriptionsPerConnection: a.Config.MaxSubscriptionsPerConnection,
		SubscriptionsPerUser:       a.Config.MaxSubscriptionsPerUser,
		Refused:                    a.refusals.Inc,
	}, es.Schema(), a.Logger)
	srv.Use(guard)
	srv.AddTransport(gqlws.Transport(gqlws.Gorilla{AllowedOrigins: a.Config.AllowedOrigins}, guard, keepAlive))
	srv.AddTransport(transport.SSE{KeepAlivePingInterval: keepAlive})
	srv.AddTransport(transport.Options{})
	srv.AddTransport(gqlserver.HTTP{Uploads: a.uploadLimits()})
	return srv, nil
}

// keepAlive is the interval of keep-alive messages on live streams.
const keepAlive = 15 * time.Second

func (a *App) routes(gql http.Handler) http.Handler {
	r := chi.NewRouter()
	r.Use(a.httpMetrics.Middleware, requestID, a.logRequests, a.recoverPanics, clientAddr, a.authenticate, a.rateLimit)
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		rest.WriteError(w, models.Errorf(models.CodeNotFound, "No such route"))
	})
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	r.Get("/readyz", a.ready)
	r.Get("/metrics", a.adminMetrics)
	graphiql := web.GraphiQL()
	r.Handle("/graphql", gqlserver.Endpoint(gql, graphiql))
	r.Handle("/v1/graphql", gqlserver.Endpoint(gql, graphiql))
	r.Get("/", web.Dashboard().ServeHTTP)
	r.Get("/docs", web.Docs().ServeHTTP)
	r.Get(web.AssetsPrefix+"*", web.Assets().ServeHTTP)
	r.Get("/v1/binaries/{id}/content", a.binaryContent)
	r.Get("/runner/v1/binaries/{id}", a.runnerBinary)
	r.Mount("/v1", a.REST.Handler())
	return r
}

// ready answers 200 when the instance takes work: not shutting down, the
// database answers and every migration is applied; else 503 with why.
func (a *App) ready(w http.ResponseWriter, r *http.Request) {
	if a.Stopping.Err() != nil {
		rest.WriteError(w, models.Errorf(models.CodeServiceUnavailable, "Shutting down"))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := a.DB.PingContext(ctx); err != nil {
		rest.WriteError(w, models.Errorf(models.CodeServiceUnavailable, "Database unreachable"))
		return
	}
	pending, err := migrations.Pending(ctx, a.DB)
	if err != nil || pending > 0 {
		rest.WriteError(w, models.Errorf(models.CodeServiceUnavailable, "Migrations not applied"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ready"}` + "\n"))
}

// authenticate resolves a bearer token into the request's identity. A bad
// token is recorded, not refused here: operations that need an identity
// refuse it with the reason, and the token mutation works without one.
func (a *App) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		header := r.Header.Get("Authorization")
		// A runner credential is no user's token: runnerBinary checks it.
		if header == "" || strings.HasPrefix(r.URL.Path, runnerPrefix) {
			next.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		raw, ok := auth.BearerToken(header)
		if !ok {
			ctx = models.WithAuthError(ctx, models.Errorf(models.CodeUnauthorized, "Authorization header must be: Bearer <token>"))
			next.ServeHTTP(w, r.WithContext(ctx))
			return
		}
		ctx, err := auth.Identify(ctx, a.Identity, raw)
		if err != nil {
			a.Logger.ErrorContext(ctx, "authenticate", "err", err)
			rest.WriteError(w, models.Errorf(models.CodeInternal, "internal server error"))
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

type requestIDKey struct{}

// requestID honours a sane incoming X-Request-ID, else makes one, and echoes it.
func requestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !validRequestID(id) {
			id = models.NewID("req_")
		}
		w.Header().Set("X-Request-ID", id)
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id)))
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// RequestID returns the request id of ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

func (a *App) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		a.Logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("request_id", RequestID(r.Context())),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", ww.Status()),
			slog.Int("bytes", ww.BytesWritten()),
			slog.Duration("duration", time.Since(start)),
		)
	})
}

func (a *App) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				a.Logger.ErrorContext(r.Context(), "panic", "panic", p, "request_id", RequestID(r.Context()))
				rest.WriteError(w, models.Errorf(models.CodeInternal, "internal server error"))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// binaryContent serves an uploaded binary's bytes, for drivers that fetch
// binaries over HTTP and for users; it is no GraphQL operation, so it sits
// beside the REST table. Errors as GET /v1/binaries/{id}.
func (a *App) binaryContent(w http.ResponseWriter, r *http.Request) {
	b, f, err := a.Binaries.Open(r.Context(), chi.URLParam(r, "id"))
	a.serveBinary(w, r, b, f, err)
}

// serveBinary answers with what Binaries.Open or OpenIn returned.
func (a *App) serveBinary(w http.ResponseWriter, r *http.Request, b *models.Binary, f *os.File, err error) {
	if err != nil {
		var coded *models.Error
		if !errors.As(err, &coded) {
			a.Logger.ErrorContext(r.Context(), "binary content", "err", err)
			coded = models.Errorf(models.CodeInternal, "internal server error")
		}
		rest.WriteError(w, coded)
		return
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", `attachment; filename="`+b.ID+`"`)
	w.Header().Set("ETag", strconv.Quote(b.SHA256))
	w.Header().Set("X-Content-SHA256", b.SHA256)
	http.ServeContent(w, r, "", b.CreatedAt, f)
}

// bodyDeadline gives the client Config.BodyReadTimeout to send a request
// body, so that slow senders cannot hold connections open at will. Long
// responses after a body (GraphQL over SSE) are safe: net/http clears the
// read deadline when it starts watching the connection after the body.
// Uploads replace it with a minimum rate (gqlserver.UploadLimits), which
// moves the deadline along while bytes keep arriving.
func (a *App) bodyDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(a.Config.BodyReadTimeout))
		}
		next.ServeHTTP(w, r)
	})
}
