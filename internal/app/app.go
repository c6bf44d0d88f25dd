// Package app wires the platform together: database, services, GraphQL,
// REST and HTTP middleware. cmd/neuais and whole-server tests use it.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/neuais/neuais/graph"
	"github.com/neuais/neuais/internal/agents"
	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/billing"
	"github.com/neuais/neuais/internal/binaries"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/internal/db"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/gqlserver"
	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/internal/leader"
	"github.com/neuais/neuais/internal/logs"
	"github.com/neuais/neuais/internal/metrics"
	"github.com/neuais/neuais/internal/orgs"
	"github.com/neuais/neuais/internal/ratelimit"
	"github.com/neuais/neuais/internal/runner"
	"github.com/neuais/neuais/internal/runtime"
	"github.com/neuais/neuais/internal/secrets"
	"github.com/neuais/neuais/internal/telemetry"
	"github.com/neuais/neuais/internal/tokens"
	"github.com/neuais/neuais/internal/users"
	"github.com/neuais/neuais/internal/webhooks"
	"github.com/neuais/neuais/migrations"
	"github.com/neuais/neuais/models"
	"github.com/neuais/neuais/resolvers"
	"github.com/neuais/neuais/rest"
)

// Version is the build's version: -ldflags "-X …/app.Version=…" sets
// it, else it is the module version that go build records ("dev" in go
// run and go test).
var Version string

func init() {
	if Version != "" {
		return
	}
	Version = "dev"
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		Version = info.Main.Version
	}
}

// BuildInfo describes the build in one line: the version, the VCS
// revision and time that go build records, whether the tree had
// uncommitted changes, and the Go version.
func BuildInfo() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return Version
	}
	var rev, when, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			when = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = ", modified"
			}
		}
	}
	if rev == "" {
		return fmt.Sprintf("%s (no VCS revision recorded, %s)", Version, info.GoVersion)
	}
	return fmt.Sprintf("%s (revision %s, %s%s, %s)", Version, rev, when, modified, info.GoVersion)
}

// App is one running platform instance.
type App struct {
	Config config.Config
	Logger *slog.Logger
	DB     *bun.DB
	Bus    events.Bus
	Health *health.Registry
	Auth   *auth.Service
	// Identity is the one identity check of HTTP requests, WebSocket
	// operations and live streams: Auth and Tokens behind a cache that the
	// database's change counter keeps current.
	Identity auth.Authenticator
	Orgs     *orgs.Service
	Agents   *agents.Service
	Users    *users.Service
	Binaries *binaries.Service
	Tokens   *tokens.Service
	// Events is the durable event log; Webhooks and Dispatcher deliver it.
	Events     *events.Log
	Webhooks   *webhooks.Service
	Dispatcher *webhooks.Dispatcher
	// Limiter counts requests, in this process or in Redis (openLimits).
	Limiter ratelimit.Limiter
	// Secrets encrypts what is stored for users (NEUAIS_SECRET_KEY).
	Secrets *secrets.Keyring
	Logs    *logs.Store
	Metrics *metrics.Store
	// Runtime runs the agents (runtime.Off with NEUAIS_RUNTIME_DRIVER=none).
	Runtime  runtime.Runtime
	Billing  *billing.Service
	Recorder *billing.Recorder
	REST     *rest.API
	Started  time.Time
	// Instance names this instance in every log line and health report.
	Instance string
	// Registry holds the Prometheus series that /metrics serves.
	Registry *prometheus.Registry
	// Stopping ends when the server begins to shut down, so that
	// long-lived streams can end cleanly instead of holding shutdown up.
	Stopping context.Context

	stop        context.CancelFunc
	background  sync.WaitGroup // loops that end with Stopping
	closers     []func() error // what New opened, closed last first
	handler     http.Handler
	httpMetrics *telemetry.HTTP
	refusals    prometheus.Counter // rate-limit 429s
	redis       *redis.Client      // nil without NEUAIS_REDIS_URL
	elector     *leader.Elector    // this instance's part in leader election
	failed      chan error         // the singleton work had to stop; Serve returns it
	runnerKey   []byte             // signs the credentials of agents' pods (RunnerCredential)
}

// Option hands New a collaborator to use instead of the one its
// configuration would build. New does not close what it is given.
type Option func(*given)

type given struct {
	bus     events.Bus
	limiter ratelimit.Limiter
	logins  auth.LoginStore
}

// WithBus makes the app publish and subscribe on bus (instances in one
// process sharing an in-process bus, say) instead of NEUAIS_BUS_URL's.
func WithBus(bus events.Bus) Option { return func(g *given) { g.bus = bus } }

// WithLimits makes the app count requests with limiter and failed logins
// in logins instead of in this process or NEUAIS_REDIS_URL's Redis.
func WithLimits(limiter ratelimit.Limiter, logins auth.LoginStore) Option {
	return func(g *given) { g.limiter, g.logins = limiter, logins }
}

// closing pushes close onto what Close undoes, last opened first.
func (a *App) closing(close func() error) { a.closers = append(a.closers, close) }

// The identity cache saves the users⋈organizations query per request.
// The TTL also bounds how late an API token's last use is recorded (a
// reload records it, to the minute).
const (
	identityTTL       = 30 * time.Second
	identityCacheSize = 10_000
)

// New opens the database, applies migrations, bootstraps an empty database
// (printing generated credentials once to out) and builds the handler.
func New(ctx context.Context, cfg config.Config, logger *slog.Logger, out io.Writer, options ...Option) (*App, error) {
	var with given
	for _, o := range options {
		o(&with)
	}
	endpoints, err := models.ParseEndpointTemplate(cfg.Endpoints())
	if err != nil {
		return nil, fmt.Errorf("app: NEUAIS_ENDPOINT_TEMPLATE: %w", err)
	}
	instance := cfg.InstanceID
	if instance == "" {
		instance = models.NewID("inst_")
	}
	logger = logger.With("instance", instance)
	a := &App{Config: cfg, Logger: logger, Health: health.NewRegistry(instance), Started: time.Now(),
		Instance: instance, Registry: telemetry.NewRegistry()}
	if a.httpMetrics, err = telemetry.NewHTTP(a.Registry); err != nil {
		return nil, err
	}
	if a.refusals, err = newRefusals(a.Registry); err != nil {
		return nil, err
	}
	a.Stopping, a.stop = context.WithCancel(context.Background())
	a.failed = make(chan error, 1)
	if a.DB, err = db.Open(ctx, db.Options{URL: cfg.DatabaseURL, DataDir: cfg.DataDir, SQLiteSynchronous: cfg.SQLiteSynchronous}); err != nil {
		return nil, err
	}
	a.closing(a.DB.Close)
	if _, err := migrations.Up(ctx, a.DB); err != nil {
		return nil, errors.Join(err, a.Close())
	}
	secret, err := auth.LoadOrCreateSecret(cfg.JWTSecret, cfg.DataDir)
	if err != nil {
		return nil, errors.Join(err, a.Close())
	}
	a.runnerKey = runner.Key(secret)
	if a.Secrets, err = secrets.LoadOrCreate(cfg.SecretKey, cfg.DataDir); err != nil {
		return nil, errors.Join(err, a.Close())
	}
	if err := a.reseal(ctx); err != nil {
		return nil, errors.Join(err, a.Close())
	}
	logins, err := a.openLimits(ctx, with)
	if err != nil {
		return nil, errors.Join(err, a.Close())
	}
	hasher := auth.NewHasher(cfg.BcryptCost)
	a.Auth = auth.NewService(a.DB, auth.NewTokens(secret, nil), hasher, auth.NewThrottle(auth.LoginLimits{
		PairMax: cfg.LoginMaxFailures, AddrMax: cfg.LoginAddrMaxFailures, EmailSlowAfter: cfg.LoginEmailSlowAfter,
		Window: cfg.LoginFailureWindow, MaxDelay: cfg.LoginMaxDelay,
	}, logins, logger, nil))
	a.Tokens = tokens.New(a.DB, a.Secrets, nil)
	a.Identity = auth.NewCache(auth.ByPrefix(a.Auth, models.PrefixAPITokenSecret, a.Tokens),
		auth.DBChangeCounter(a.DB), identityTTL, identityCacheSize, nil)
	if a.Binaries, err = binaries.New(a.DB, cfg.DataDir, int64(cfg.MaxBinaryBytes)); err != nil {
		return nil, errors.Join(err, a.Close())
	}
	a.Orgs = orgs.NewService(a.DB, hasher)
	a.Users = users.NewService(a.DB, hasher)
	a.registerComponents()
	// Before the runtime, which reports its replicas' transitions to it.
	a.Recorder = billing.NewRecorder(a.DB, runtimeSource{a}, billing.StoredIn(a.DB, a.Binaries.StoredBytes), billing.SystemClock{}, logger)
	if err := a.startLive(ctx, with.bus); err != nil {
		return nil, errors.Join(err, a.Close())
	}
	a.Agents = agents.NewService(a.DB, a.Bus, agents.Config{
		Regions:       cfg.Regions,
		Endpoints:     endpoints,
		AllowFileURLs: cfg.AllowFileURLs,
		MaxReplicas:   cfg.MaxReplicas,
		MaxWait:       cfg.MaxAgentWait,
		Secrets:       a.Secrets,
	}, a.reconciler(), logger)
	context.AfterFunc(a.Stopping, a.Agents.Shutdown)
	a.startWebhooks()
	if err := a.registerMetrics(); err != nil {
		return nil, errors.Join(err, a.Close())
	}
	if err := a.startBilling(); err != nil {
		return nil, errors.Join(err, a.Close())
	}
	if err := a.startLeader(ctx); err != nil {
		return nil, errors.Join(err, a.Close())
	}

	created, generated, err := a.Orgs.Bootstrap(ctx, cfg.AdminEmail, cfg.AdminPassword, cfg.BootstrapRateLimit)
	if err != nil {
		return nil, errors.Join(err, a.Close())
	}
	if created {
		email := cfg.AdminEmail
		if email == "" {
			email = orgs.DefaultAdminEmail
		}
		if generated != "" {
			fmt.Fprintf(out, "Created organization %q with admin %s and generated password: %s\n(shown once; set NEUAIS_ADMIN_PASSWORD to choose it)\n", orgs.DefaultName, email, generated)
		} else {
			fmt.Fprintf(out, "Created organization %q with admin %s\n", orgs.DefaultName, email)
		}
	}

	es := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{
		Version:  Version,
		Auth:     a.Auth,
		Identity: a.Identity,
		Orgs:     a.Orgs,
		Agents:   a.Agents,
		Users:    a.Users,
		Binaries: a.Binaries,
		Tokens:   a.Tokens,
		Health:   a.Health,
		Logs:     a.Logs,
		Metrics:  a.Metrics,
		Bus:      a.Bus,
		EventLog: a.Events,
		Webhooks: a.Webhooks,
		Billing:  a.Billing,
		Stopping: a.Stopping,

		UserCheckInterval: cfg.StreamUserCheck,
	}, Complexity: resolvers.Complexity()})
	opts := gqlserver.Options{ComplexityLimit: cfg.ComplexityLimit, DepthLimit: cfg.DepthLimit, Introspection: cfg.Introspection, Logger: logger}
	if err := opts.Validate(); err != nil {
		return nil, errors.Join(err, a.Close())
	}
	if a.REST, err = rest.New(gqlserver.NewExecutor(es, opts), es.Schema(), rest.Routes(), a.uploadLimits(), logger); err != nil {
		return nil, errors.Join(err, a.Close())
	}
	gql, err := a.newGraphQLHandler(es, opts)
	if err != nil {
		return nil, errors.Join(err, a.Close())
	}
	a.handler = a.Runtime.Proxy(endpoints, a.routes(gql))
	// Outside the proxy, so that bodies sent to agents have the deadline too.
	a.handler = a.bodyDeadline(a.handler)
	return a, nil
}

// uploadLimits bound how slowly an upload may arrive: as slowly as a
// binary download may (NEUAIS_FETCH_MIN_RATE over NEUAIS_FETCH_RATE_WINDOW).
func (a *App) uploadLimits() gqlserver.UploadLimits {
	return gqlserver.UploadLimits{MinRate: int64(a.Config.FetchMinRate), Window: a.Config.FetchRateWindow}
}

// Handler returns the root HTTP handler.
func (a *App) Handler() http.Handler { return a.handler }

// Close ends the loops that stop with Stopping, then closes what New
// opened, last opened first: the sampler, the agents' replicas (billing
// records their ends), the queued log lines, the bus, Redis, the
// database. It may be called once, also on a half-built App.
func (a *App) Close() error {
	a.stop()
	a.background.Wait()
	var errs []error
	for i := len(a.closers) - 1; i >= 0; i-- {
		errs = append(errs, a.closers[i]())
	}
	a.closers = nil
	return errors.Join(errs...)
}

// Serve serves on ln until ctx ends, then shuts down gracefully within the
// configured grace period. With NEUAIS_METRICS_ADDR it also serves
// /metrics there, until it returns.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	if a.Config.MetricsAddr != "" {
		mln, err := net.Listen("tcp", a.Config.MetricsAddr)
		if err != nil {
			return fmt.Errorf("app: NEUAIS_METRICS_ADDR: %w", err)
		}
		mctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := a.serveMetrics(mctx, mln); err != nil {
				a.Logger.Error("metrics listener", "err", err)
			}
		}()
		// Closed before Serve returns, so that the port is free again.
		defer func() { stop(); <-done }()
		a.Logger.Info("serving metrics", "addr", mln.Addr().String())
	}
	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	srv.RegisterOnShutdown(a.stop)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	var failed error // the singleton work stopped: exit, to start again as a follower
	select {
	case err := <-errc:
		return err
	case failed = <-a.failed:
	case <-ctx.Done():
	}
	a.Logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.Config.ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("app: shutdown: %w", err)
	}
	return failed
}

// reseal encrypts with the current key what was stored in the clear or
// under an older key; on SQLite it then folds the WAL into the file, whose
// secure_delete leaves no copy of the old values in freed pages.
func (a *App) reseal(ctx context.Context) error {
	n, err := agents.Reseal(ctx, a.DB, a.Secrets)
	if err != nil {
		return err
	}
	m, err := webhooks.Reseal(ctx, a.DB, a.Secrets)
	if err != nil {
		return err
	}
	n += m
	if n > 0 {
		a.Logger.Info("sealed stored secrets with the current key", "count", n)
		if a.DB.Dialect().Name() == dialect.SQLite {
			if _, err := a.DB.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
				return fmt.Errorf("app: checkpoint after resealing: %w", err)
			}
		}
	}
	return nil
}
