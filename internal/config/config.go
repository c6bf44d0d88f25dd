// Package config loads the server's configuration from NEUAIS_* environment
// variables, each overridable by a flag of the same name in kebab case
// (NEUAIS_DATA_DIR → --data-dir).
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Runtime drivers: local runs agents as processes on this machine; none
// runs nothing (agents stay as the API left them), for API-only tests.
const (
	RuntimeLocal = "local"
	RuntimeNone  = "none"
)

// Config is the whole configuration, passed down from cmd/neuais.
type Config struct {
	Addr          string
	DataDir       string
	DatabaseURL   string
	JWTSecret     string
	AdminEmail    string
	AdminPassword string
	LogLevel      slog.Level
	BusURL        string
	RuntimeDriver string

	// BcryptCost is the password hashing cost (tests lower it).
	BcryptCost int
	// GraphQL limits and switches.
	ComplexityLimit int
	DepthLimit      int
	Introspection   bool
	// ShutdownGrace bounds graceful shutdown.
	ShutdownGrace time.Duration
	// BodyReadTimeout bounds how long a client may take to send a body.
	BodyReadTimeout time.Duration
	// Rate limits: organizations have their tier's limit per minute and
	// callers without a token AnonymousRateLimit per address; no limit is
	// below RateLimitMin. LoginMaxFailures failed logins per e-mail or
	// address within LoginFailureWindow block further logins.
	AnonymousRateLimit int
	RateLimitMin       int
	LoginMaxFailures   int
	LoginFailureWindow time.Duration

	// Agents API: the regions agents may be placed in (the first is the
	// default), the endpoint template ({name} is the agent's name), whether
	// file:// binary URLs are accepted (local use only), the replica limit
	// per agent, and the longest wait for an agent's status.
	Regions          []string
	EndpointTemplate string
	AllowFileURLs    bool
	// AllowPrivateBinaryURLs lets binary downloads reach loopback and
	// private addresses (local use only).
	AllowPrivateBinaryURLs bool
	MaxReplicas            int
	MaxAgentWait           time.Duration

	// Local runtime: how long a stopping replica gets between SIGTERM and
	// SIGKILL, the binary download's timeout and size cap, the longest
	// restart backoff, and how many crashes within a window make a crash loop.
	StopGrace          time.Duration
	FetchTimeout       time.Duration
	MaxBinaryBytes     int
	RestartBackoffMax  time.Duration
	CrashLoopThreshold int
	CrashLoopWindow    time.Duration

	// Live data: the metrics sampling interval, what is kept of each
	// agent's log, the browser origins allowed to open WebSockets
	// (scheme://host[:port]; requests without an Origin header, from
	// non-browser clients, are always allowed), and how often a live
	// stream checks that its token still holds (a deleted user's streams,
	// and those of a token revoked by a password change, end).
	MetricsInterval time.Duration
	LogMaxLines     int
	LogMaxAge       time.Duration
	AllowedOrigins  []string
	StreamUserCheck time.Duration
	// Subscriptions one WebSocket connection, and one user over all its
	// connections, may hold open at once.
	MaxSubscriptionsPerConnection int
	MaxSubscriptionsPerUser       int
}

// Default returns the configuration used when nothing is set: it lets
// `neuais serve` start on a fresh machine.
func Default() Config {
	return Config{
		Addr:            ":8000",
		DataDir:         "./data",
		LogLevel:        slog.LevelInfo,
		RuntimeDriver:   RuntimeLocal,
		BcryptCost:      10,
		ComplexityLimit: 1000,
		DepthLimit:      12,
		Introspection:   true,
		ShutdownGrace:   15 * time.Second,
		BodyReadTimeout: 30 * time.Second,

		AnonymousRateLimit: 100,
		LoginMaxFailures:   5,
		LoginFailureWindow: 15 * time.Minute,

		Regions:          []string{"local"},
		EndpointTemplate: "http://{name}.localhost:8000",
		MaxReplicas:      20,
		MaxAgentWait:     5 * time.Minute,

		MetricsInterval: 10 * time.Second,

		StopGrace:          10 * time.Second,
		FetchTimeout:       5 * time.Minute,
		MaxBinaryBytes:     512 << 20,
		RestartBackoffMax:  30 * time.Second,
		CrashLoopThreshold: 5,
		CrashLoopWindow:    2 * time.Minute,

		LogMaxLines: 10000,
		LogMaxAge:   7 * 24 * time.Hour,

		MaxSubscriptionsPerConnection: 100,
		MaxSubscriptionsPerUser:       500,
	}
}

// Load reads the environment (through getenv) and then args as flags.
func Load(args []string, getenv func(string) string, stderr io.Writer) (Config, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c, rest, err := LoadFlags(fs, args, getenv)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected arguments: %s", strings.Join(rest, " "))
	}
	return c, err
}

// LoadFlags is Load on the caller's flag set, for commands with flags and
// arguments of their own: a flag the caller already defined keeps its
// meaning (the configuration flag of that name and its variable are left
// out), arguments may stand between flags, and they are returned.
func LoadFlags(fs *flag.FlagSet, args []string, getenv func(string) string) (Config, []string, error) {
	c := Default()
	var errs []error
	own := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { own[f.Name] = true })
	str := func(p *string, name, usage string) {
		if own[name] {
			return
		}
		if v := getenv(envName(name)); v != "" {
			*p = v
		}
		fs.StringVar(p, name, *p, usage+" ("+envName(name)+")")
	}
	num := func(p *int, name, usage string) {
		if own[name] {
			return
		}
		if v := getenv(envName(name)); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: must be an integer", envName(name)))
			}
			*p = n
		}
		fs.IntVar(p, name, *p, usage+" ("+envName(name)+")")
	}
	boolean := func(p *bool, name, usage string) {
		if own[name] {
			return
		}
		if v := getenv(envName(name)); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: must be true or false", envName(name)))
			}
			*p = b
		}
		fs.BoolVar(p, name, *p, usage+" ("+envName(name)+")")
	}
	duration := func(p *time.Duration, name, usage string) {
		if own[name] {
			return
		}
		if v := getenv(envName(name)); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: must be a duration such as 10s", envName(name)))
			}
			*p = d
		}
		fs.DurationVar(p, name, *p, usage+" ("+envName(name)+")")
	}
	level := func(p *slog.Level, name, usage string) {
		if own[name] {
			return
		}
		if v := getenv(envName(name)); v != "" {
			if err := p.UnmarshalText([]byte(v)); err != nil {
				errs = append(errs, fmt.Errorf("%s: must be debug, info, warn or error", envName(name)))
			}
		}
		fs.TextVar(p, name, *p, usage+" ("+envName(name)+")")
	}

	list := func(p *[]string, name, usage string) {
		if own[name] {
			return
		}
		if v := getenv(envName(name)); v != "" {
			*p = splitList(v)
		}
		fs.Func(name, usage+" ("+envName(name)+", comma-separated; default "+strings.Join(*p, ",")+")", func(v string) error {
			*p = splitList(v)
			return nil
		})
	}

	str(&c.Addr, "addr", "listen address")
	str(&c.DataDir, "data-dir", "data directory (SQLite file, JWT secret, binaries)")
	str(&c.DatabaseURL, "database-url", "postgres:// URL; empty for SQLite in the data directory")
	str(&c.JWTSecret, "jwt-secret", "HS256 secret of at least 32 characters; generated and kept in the data directory when empty")
	str(&c.AdminEmail, "admin-email", "e-mail of the first admin, created on an empty database")
	str(&c.AdminPassword, "admin-password", "password of the first admin; generated and printed once when empty")
	level(&c.LogLevel, "log-level", "debug, info, warn or error")
	str(&c.BusURL, "bus-url", "shared event bus URL; empty for the in-process bus")
	str(&c.RuntimeDriver, "runtime-driver", "agent runtime driver: local, or none to run no agents")
	num(&c.BcryptCost, "bcrypt-cost", "bcrypt cost of password hashes")
	num(&c.ComplexityLimit, "complexity-limit", "GraphQL query complexity limit")
	num(&c.DepthLimit, "depth-limit", "GraphQL query depth limit")
	boolean(&c.Introspection, "introspection", "allow GraphQL introspection")
	duration(&c.ShutdownGrace, "shutdown-grace", "how long graceful shutdown may take")
	duration(&c.BodyReadTimeout, "body-read-timeout", "how long a client may take to send a request body")
	num(&c.AnonymousRateLimit, "anonymous-rate-limit", "requests per minute of one client address without a token")
	num(&c.RateLimitMin, "rate-limit-min", "lowest requests-per-minute limit of any caller; raise it for tests or trusted installations")
	num(&c.LoginMaxFailures, "login-max-failures", "failed logins per e-mail or address before logins are refused; 0 disables")
	duration(&c.LoginFailureWindow, "login-failure-window", "window in which failed logins count")
	list(&c.Regions, "regions", "regions agents may run in, the first being the default")
	str(&c.EndpointTemplate, "endpoint-template", "URL of an agent's endpoint; {name} is replaced by the agent's name")
	boolean(&c.AllowFileURLs, "allow-file-urls", "accept file:// binary URLs (local use only)")
	boolean(&c.AllowPrivateBinaryURLs, "allow-private-binary-urls", "let binary downloads reach loopback and private addresses (local use only)")
	num(&c.MaxReplicas, "max-replicas", "most replicas one agent may have")
	duration(&c.MaxAgentWait, "max-agent-wait", "longest timeout of a wait for an agent's status")
	duration(&c.MetricsInterval, "metrics-interval", "how often running agents are sampled for metrics")
	duration(&c.StopGrace, "stop-grace", "time a replica gets between SIGTERM and SIGKILL")
	duration(&c.FetchTimeout, "fetch-timeout", "timeout of an agent binary's download")
	num(&c.MaxBinaryBytes, "max-binary-bytes", "largest agent binary accepted, in bytes")
	duration(&c.RestartBackoffMax, "restart-backoff-max", "longest wait before a crashed replica restarts")
	num(&c.CrashLoopThreshold, "crash-loop-threshold", "crashes within the crash-loop window that put an agent in error")
	duration(&c.CrashLoopWindow, "crash-loop-window", "window in which crashes count towards a crash loop")
	num(&c.LogMaxLines, "log-max-lines", "log lines kept per agent")
	duration(&c.LogMaxAge, "log-max-age", "how long log lines are kept")
	list(&c.AllowedOrigins, "allowed-origins", "browser origins allowed to open GraphQL WebSockets")
	duration(&c.StreamUserCheck, "stream-user-check", "how often a live stream checks that its token still holds (user exists, password unchanged)")
	num(&c.MaxSubscriptionsPerConnection, "max-subscriptions-per-connection", "subscriptions one WebSocket connection may hold open")
	num(&c.MaxSubscriptionsPerUser, "max-subscriptions-per-user", "subscriptions one user may hold open over all its WebSocket connections")

	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return c, nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(c.Regions) == 0 {
		errs = append(errs, errors.New("NEUAIS_REGIONS: must name at least one region"))
	}
	if c.RuntimeDriver != RuntimeLocal && c.RuntimeDriver != RuntimeNone {
		errs = append(errs, errors.New("NEUAIS_RUNTIME_DRIVER: must be local or none"))
	}
	if c.MetricsInterval < time.Second {
		errs = append(errs, errors.New("NEUAIS_METRICS_INTERVAL: must be at least 1s"))
	}
	if c.BodyReadTimeout <= 0 {
		errs = append(errs, errors.New("NEUAIS_BODY_READ_TIMEOUT: must be positive"))
	}
	if c.StopGrace <= 0 || c.FetchTimeout <= 0 || c.MaxBinaryBytes <= 0 || c.RestartBackoffMax <= 0 || c.CrashLoopThreshold < 1 || c.CrashLoopWindow <= 0 {
		errs = append(errs, errors.New("runtime settings (stop grace, fetch timeout, max binary bytes, restart backoff, crash loop): must be positive"))
	}
	if c.LogMaxLines < 1 || c.LogMaxAge <= 0 {
		errs = append(errs, errors.New("NEUAIS_LOG_MAX_LINES and NEUAIS_LOG_MAX_AGE: must be positive"))
	}
	if c.MaxSubscriptionsPerConnection < 1 || c.MaxSubscriptionsPerUser < 1 {
		errs = append(errs, errors.New("NEUAIS_MAX_SUBSCRIPTIONS_PER_CONNECTION and NEUAIS_MAX_SUBSCRIPTIONS_PER_USER: must be at least 1"))
	}
	if c.MaxReplicas < 1 {
		errs = append(errs, errors.New("NEUAIS_MAX_REPLICAS: must be at least 1"))
	}
	return c, positional, errors.Join(errs...)
}

func envName(flagName string) string {
	return "NEUAIS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
