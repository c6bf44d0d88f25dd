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
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/neuais/neuais/internal/logs"
	"github.com/neuais/neuais/internal/runtime"
)

// Runtime drivers: local runs agents as processes on this machine; none
// runs nothing (agents stay as the API left them), for API-only tests.
const (
	RuntimeLocal      = "local"
	RuntimeNone       = "none"
	RuntimeKubernetes = "kubernetes"
)

// MaxLogLineBytes is the highest NEUAIS_LOG_MAX_LINE_BYTES: below the
// runtime's 64 KiB output buffer, so a line cut by the buffer is always
// longer than the cap and marked as cut.
const MaxLogLineBytes = 32 << 10

// Config is the whole configuration, passed down from cmd/neuais.
type Config struct {
	Addr        string
	DataDir     string
	DatabaseURL string
	JWTSecret   string
	// SecretKey is the keys (base64, 32 bytes, comma-separated, the first
	// sealing) that encrypt stored secrets; empty: one generated and kept
	// in the data directory.
	SecretKey     string
	AdminEmail    string
	AdminPassword string
	LogLevel      slog.Level
	BusURL        string
	// RedisURL is the Redis server that rate limits and login throttles
	// count in, shared by every instance; empty: each process counts its own.
	RedisURL string
	// RedisPrefix starts every key neuais writes to Redis, so that
	// installations can share a server.
	RedisPrefix   string
	RuntimeDriver string
	// Kube configures the kubernetes driver (NEUAIS_KUBE_*).
	Kube Kube
	// InstanceID names this instance in logs and health reports; empty:
	// one generated at start.
	InstanceID string
	// LeaderLease is how long the instance leading the singleton work
	// holds its lease without renewing it (every third of it): the most a
	// dead leader's work waits for another instance.
	LeaderLease time.Duration
	// MetricsAddr is a listener serving only /metrics, without a token;
	// empty: none (admins scrape /metrics on Addr).
	MetricsAddr string
	// SQLiteSynchronous is SQLite's synchronous setting (full, normal,
	// extra, off): full makes every acknowledged write survive power loss.
	SQLiteSynchronous string

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
	// Rate limits: organizations have their tier's limit per
	// RateLimitWindow (a minute; tests shorten it) and callers without a
	// token AnonymousRateLimit per address; no limit is below RateLimitMin.
	// LoginMaxFailures failed logins per e-mail or address within
	// LoginFailureWindow block further logins.
	AnonymousRateLimit int
	RateLimitMin       int
	RateLimitWindow    time.Duration
	LoginMaxFailures   int
	// LoginAddrMaxFailures failures from one address (any e-mails) block
	// it; after LoginEmailSlowAfter failures of one e-mail from anywhere,
	// attempts from addresses it never logged in from wait doubling delays
	// up to LoginMaxDelay.
	LoginAddrMaxFailures int
	LoginEmailSlowAfter  int
	LoginMaxDelay        time.Duration
	LoginFailureWindow   time.Duration

	// Agents API: the regions agents may be placed in (the first is the
	// default), the endpoint template ({name} is the agent's name, {org}
	// its organization's slug; empty for the default, see Endpoints), whether
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
	StopGrace      time.Duration
	FetchTimeout   time.Duration
	MaxBinaryBytes int
	// Binary downloads: one bringing fewer than FetchMinRate bytes per
	// second over a FetchRateWindow is aborted; at most MaxDownloads run at
	// once, MaxDownloadsPerOrg of one organization.
	FetchMinRate       int
	FetchRateWindow    time.Duration
	MaxDownloads       int
	MaxDownloadsPerOrg int
	RestartBackoffMax  time.Duration
	CrashLoopThreshold int
	CrashLoopWindow    time.Duration
	// The first restart backoff, the period of the runtime's full
	// reconcile, and when a replica that does not listen on its PORT
	// counts as up.
	RestartBackoffBase time.Duration
	ReconcileInterval  time.Duration
	ReplicaReadyAfter  time.Duration
	// Isolation of replicas: "on" (sandboxed; none starts where the host
	// cannot) or "off" (plain processes, one trusted tenant only); the
	// folder of the sandboxes' bundles (empty: under /run) and each
	// replica's process, open-file and file-size limits.
	RuntimeIsolation    string
	SandboxDir          string
	ReplicaMaxProcesses int
	ReplicaMaxOpenFiles int
	ReplicaMaxFileBytes int

	// Live data: the metrics sampling interval, what is kept of each
	// agent's log, the browser origins allowed to open WebSockets
	// (scheme://host[:port]; requests without an Origin header, from
	// non-browser clients, are always allowed), and how often a live
	// stream checks that its token still holds (a deleted user's streams,
	// and those of a token revoked by a password change, end).
	MetricsInterval time.Duration
	// BillingHeartbeat is how often open replica intervals' last-seen time
	// moves (a crashed server's open intervals end at the last one) and
	// endpoint bytes and stored bytes are recorded; BillingPrices overrides
	// the price list
	// ("compute=0.05,storage=0.02,network=0.05", or @file holding that);
	// BootstrapRateLimit is the bootstrap organization's (enterprise) limit.
	BillingHeartbeat   time.Duration
	BillingPrices      string
	BootstrapRateLimit int
	LogMaxLines        int
	LogMaxAge          time.Duration
	AllowedOrigins     []string
	StreamUserCheck    time.Duration

	// Log flood limits: each agent's replica output per second in lines
	// and bytes, the seconds' worth a quiet agent may write at once, the
	// longest line (longer ones are cut), the bytes of lines waiting to be
	// written, and the message bytes kept per organization.
	LogRateLines      int
	LogRateBytes      int
	LogRateBurst      time.Duration
	LogMaxLineBytes   int
	LogQueueBytes     int
	LogMaxBytesPerOrg int
	// LogFlushLines, LogFlushInterval, LogDropReportInterval and
	// LogRetentionInterval pace the log store's writes and reports.
	LogFlushLines         int
	LogFlushInterval      time.Duration
	LogDropReportInterval time.Duration
	LogRetentionInterval  time.Duration

	// Event log and webhooks: how long events are kept, whether
	// deliveries may reach loopback and private addresses (local use
	// only), each attempt's timeout, the waits before each attempt (the
	// first usually 0), the attempts sent at once, and how long an
	// endpoint may fail before it is disabled.
	EventRetention          time.Duration
	AllowPrivateWebhookURLs bool
	WebhookTimeout          time.Duration
	WebhookRetrySchedule    []time.Duration
	WebhookWorkers          int
	WebhookDisableAfter     time.Duration

	// Subscriptions one WebSocket connection, and one user over all its
	// connections, may hold open at once.
	MaxSubscriptionsPerConnection int
	MaxSubscriptionsPerUser       int
}

// Kube is the kubernetes driver's configuration.
type Kube struct {
	// Kubeconfig is a kubeconfig file; empty: the in-cluster service account.
	Kubeconfig  string
	Namespace   string
	RunnerImage string
	PullPolicy  string
	// ControlURL is this control plane as the agents' pods reach it.
	ControlURL string
	// EgressDeny is comma-separated CIDRs the agents' pods may not reach.
	EgressDeny string
	// KubeletURL is read for the kubelet summary instead of the node proxy.
	KubeletURL string
}

// Default returns the configuration used when nothing is set: it lets
// `neuais serve` start on a fresh machine.
func Default() Config {
	return Config{
		Addr:          ":8000",
		DataDir:       "./data",
		LogLevel:      slog.LevelInfo,
		RuntimeDriver: RuntimeLocal,
		Kube: Kube{
			Namespace: "default", RunnerImage: "neuais-runner:latest", PullPolicy: "IfNotPresent",
			EgressDeny: "169.254.169.254/32",
		},
		LeaderLease:       10 * time.Second,
		SQLiteSynchronous: "full",
		BcryptCost:        10,
		ComplexityLimit:   1000,
		DepthLimit:        12,
		Introspection:     true,
		ShutdownGrace:     15 * time.Second,
		BodyReadTimeout:   30 * time.Second,

		AnonymousRateLimit:   100,
		RateLimitWindow:      time.Minute,
		RedisPrefix:          "neuais:",
		LoginMaxFailures:     5,
		LoginAddrMaxFailures: 20,
		LoginEmailSlowAfter:  50,
		LoginMaxDelay:        30 * time.Second,
		LoginFailureWindow:   15 * time.Minute,

		Regions:      []string{"local"},
		MaxReplicas:  20,
		MaxAgentWait: 5 * time.Minute,

		MetricsInterval:    10 * time.Second,
		BillingHeartbeat:   5 * time.Second,
		BootstrapRateLimit: 10_000,

		StopGrace:          10 * time.Second,
		FetchTimeout:       5 * time.Minute,
		MaxBinaryBytes:     512 << 20,
		FetchMinRate:       10 << 10,
		FetchRateWindow:    30 * time.Second,
		MaxDownloads:       8,
		MaxDownloadsPerOrg: 2,
		RestartBackoffMax:  30 * time.Second,
		CrashLoopThreshold: 5,
		CrashLoopWindow:    2 * time.Minute,
		RestartBackoffBase: 500 * time.Millisecond,
		ReconcileInterval:  30 * time.Second,
		ReplicaReadyAfter:  2 * time.Second,

		RuntimeIsolation:    "on",
		ReplicaMaxProcesses: 512,
		ReplicaMaxOpenFiles: 4096,
		ReplicaMaxFileBytes: 16 << 30,

		LogMaxLines:       10000,
		LogMaxAge:         7 * 24 * time.Hour,
		LogRateLines:      1000,
		LogRateBytes:      1 << 20,
		LogRateBurst:      2 * time.Second,
		LogMaxLineBytes:   16 << 10,
		LogQueueBytes:     64 << 20,
		LogMaxBytesPerOrg: 1 << 30,

		LogFlushLines:         1000,
		LogFlushInterval:      10 * time.Millisecond,
		LogDropReportInterval: time.Second,
		LogRetentionInterval:  time.Minute,

		EventRetention:       30 * 24 * time.Hour,
		WebhookTimeout:       15 * time.Second,
		WebhookRetrySchedule: []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 10 * time.Hour},
		WebhookWorkers:       128,
		WebhookDisableAfter:  5 * 24 * time.Hour,

		MaxSubscriptionsPerConnection: 100,
		MaxSubscriptionsPerUser:       500,
	}
}

// Runtime is the runtime's configuration; its collaborators (Secrets,
// Meter) are the caller's.
func (c Config) Runtime() runtime.Config {
	return runtime.Config{
		DataDir:            c.DataDir,
		AllowFileURLs:      c.AllowFileURLs,
		AllowPrivateURLs:   c.AllowPrivateBinaryURLs,
		FetchTimeout:       c.FetchTimeout,
		FetchMinRate:       int64(c.FetchMinRate),
		FetchRateWindow:    c.FetchRateWindow,
		MaxDownloads:       c.MaxDownloads,
		MaxDownloadsPerOrg: c.MaxDownloadsPerOrg,
		MaxBinaryBytes:     int64(c.MaxBinaryBytes),
		StopGrace:          c.StopGrace,
		BackoffBase:        c.RestartBackoffBase,
		BackoffMax:         c.RestartBackoffMax,
		CrashLoopThreshold: c.CrashLoopThreshold,
		CrashLoopWindow:    c.CrashLoopWindow,
		ReconcileInterval:  c.ReconcileInterval,
		ReadyAfter:         c.ReplicaReadyAfter,
		Isolation:          c.RuntimeIsolation,
		SandboxDir:         c.SandboxDir,
		//nolint:gosec // the binding's rules refuse values below 1
		SandboxLimits: runtime.SandboxLimits{Processes: c.ReplicaMaxProcesses, OpenFiles: uint64(c.ReplicaMaxOpenFiles), FileBytes: uint64(c.ReplicaMaxFileBytes)},
		Clock:         time.Now,
	}
}

// Logs is the log store's configuration. PurgeDeleted is the caller's:
// only a server whose agents table is the truth may purge by it.
func (c Config) Logs() logs.Config {
	return logs.Config{
		FlushLines: c.LogFlushLines, FlushInterval: c.LogFlushInterval,
		MaxQueueBytes: int64(c.LogQueueBytes), MaxLineBytes: c.LogMaxLineBytes,
		RateLines: float64(c.LogRateLines), RateBytes: float64(c.LogRateBytes), RateBurst: c.LogRateBurst,
		DropReportInterval: c.LogDropReportInterval,
		MaxLinesPerAgent:   c.LogMaxLines, MaxAge: c.LogMaxAge, MaxBytesPerOrg: int64(c.LogMaxBytesPerOrg),
		RetentionInterval: c.LogRetentionInterval,
	}
}

// Endpoints returns the endpoint template in effect: EndpointTemplate, or
// when empty DefaultEndpointTemplate of Addr, so that the endpoints
// advertised name the port the server listens on.
func (c Config) Endpoints() string {
	if c.EndpointTemplate != "" {
		return c.EndpointTemplate
	}
	return DefaultEndpointTemplate(c.Addr)
}

// DefaultEndpointTemplate is the endpoint template of a server listening on
// addr: agents' hosts under .localhost (which resolvers such as browsers'
// and systemd's take for the loopback) on the listen address's port.
func DefaultEndpointTemplate(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || port == "80" {
		return "http://{name}.{org}.localhost"
	}
	return "http://{name}.{org}.localhost:" + port
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
	var own []string
	fs.VisitAll(func(f *flag.Flag) { own = append(own, f.Name) })
	b := Bind(getenv, own...)
	for _, st := range b.Settings {
		fs.Var(st.Value, st.Name, st.Usage)
	}
	fs.Usage = func() { b.usage(fs) }
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return *b.Config, nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	c, err := b.Finish()
	return c, positional, err
}

// Setting is one configuration setting as a command-line flag: its name,
// variable, usage and built-in default (never a value from the
// environment, which may be a secret). Value writes into the Binding's
// Config.
type Setting struct {
	Name, Env, Usage, Default string
	Value                     interface {
		flag.Value
		flag.Getter
	}
	rules []rule
}

// IsBool reports whether the setting's flag may stand alone (--introspection).
func (s Setting) IsBool() bool {
	b, ok := s.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// Binding is a configuration being loaded: Config starts from Default and
// the environment; setting Values from flags changes it; Finish checks it.
// Command-line libraries define their flags from Settings.
type Binding struct {
	Config   *Config
	Settings []Setting
	errs     []error
}

// Bind reads the environment (through getenv) into a new Config and
// returns its settings, leaving out those named in skip (a command's own
// flags of the same name).
func Bind(getenv func(string) string, skip ...string) *Binding {
	c := Default()
	b := &binder{getenv: getenv, own: map[string]bool{}}
	for _, name := range skip {
		b.own[name] = true
	}
	b.add(&c.Addr, "addr", "listen address")
	b.add(&c.DataDir, "data-dir", "data directory (SQLite file, JWT secret, binaries)")
	b.add(&c.DatabaseURL, "database-url", "postgres:// URL; empty for SQLite in the data directory")
	b.add(&c.SQLiteSynchronous, "sqlite-synchronous", "SQLite's synchronous setting: full (every acknowledged write survives power loss), normal (faster; may lose the last writes on power loss), extra or off")
	b.add(&c.SecretKey, "secret-key", "base64 keys of 32 bytes, comma-separated, the first encrypting, the others only decrypting (rotation) agents' environments at rest; generated and kept in the data directory when empty")
	b.add(&c.JWTSecret, "jwt-secret", "HS256 secret of at least 32 characters; generated and kept in the data directory when empty")
	b.add(&c.AdminEmail, "admin-email", "e-mail of the first admin, created on an empty database")
	b.add(&c.AdminPassword, "admin-password", "password of the first admin; generated and printed once when empty")
	b.add(&c.LogLevel, "log-level", "debug, info, warn or error")
	b.add(&c.BusURL, "bus-url", "shared event bus URL; empty for the in-process bus")
	b.add(&c.InstanceID, "instance-id", "this instance's name in logs and service reports; generated at start when empty")
	b.add(&c.LeaderLease, "leader-lease", "how long the instance leading the singleton work (runtime, sampling, billing, sweeps) holds its lease: another takes over within it when the leader dies", atLeast(time.Second))
	b.add(&c.MetricsAddr, "metrics-addr", "listen address serving Prometheus /metrics without a token (keep it private, e.g. 127.0.0.1:9090); empty for none, /metrics on addr then needs an admin token")
	b.add(&c.RedisURL, "redis-url", "redis:// or rediss:// URL of the Redis server that rate limits and login throttles count in, shared by every instance; empty to count in each process")
	b.add(&c.RedisPrefix, "redis-prefix", "prefix of every key written to Redis")
	b.add(&c.RuntimeDriver, "runtime-driver", "agent runtime driver: local, kubernetes, or none to run no agents", oneOf(RuntimeLocal, RuntimeKubernetes, RuntimeNone))
	b.add(&c.Kube.Kubeconfig, "kubeconfig", "kubeconfig file of the cluster the kubernetes driver runs agents on; empty for the in-cluster service account")
	b.add(&c.Kube.Namespace, "kube-namespace", "namespace of the agents' Deployments, Secrets and NetworkPolicies")
	b.add(&c.Kube.RunnerImage, "kube-runner-image", "image with the neuais binary at /neuais that the agents' pods run (its runner command fetches and execs the agent's binary)")
	b.add(&c.Kube.PullPolicy, "kube-pull-policy", "image pull policy of the runner image", oneOf("Always", "IfNotPresent", "Never"))
	b.add(&c.Kube.ControlURL, "kube-control-url", "this control plane's URL as the agents' pods reach it, to fetch uploaded binaries (required with the kubernetes driver)")
	b.add(&c.Kube.EgressDeny, "kube-egress-deny", "comma-separated CIDRs the agents' NetworkPolicy denies, e.g. the database's address and cloud metadata")
	b.add(&c.Kube.KubeletURL, "kube-kubelet-url", "kubelet summary URL read for pods' CPU and memory instead of the API server's node proxy, when metrics.k8s.io is absent (TLS not verified)")
	b.add(&c.BcryptCost, "bcrypt-cost", "bcrypt cost of password hashes")
	b.add(&c.ComplexityLimit, "complexity-limit", "GraphQL query complexity limit", atLeast(1))
	b.add(&c.DepthLimit, "depth-limit", "GraphQL query depth limit", atLeast(1))
	b.add(&c.Introspection, "introspection", "allow GraphQL introspection")
	b.add(&c.ShutdownGrace, "shutdown-grace", "how long graceful shutdown may take")
	b.add(&c.BodyReadTimeout, "body-read-timeout", "how long a client may take to send a request body", positive[time.Duration]())
	b.add(&c.AnonymousRateLimit, "anonymous-rate-limit", "requests per minute of one client address without a token")
	b.add(&c.RateLimitMin, "rate-limit-min", "lowest requests-per-minute limit of any caller; raise it for tests or trusted installations")
	b.add(&c.RateLimitWindow, "rate-limit-window", "window the rate limits count in, whole seconds (the contract's minute; tests shorten it)", atLeast(time.Second), wholeSeconds)
	b.add(&c.LoginMaxFailures, "login-max-failures", "failed logins of one e-mail from one address before that pair is refused for the window; 0 disables", atLeast(0))
	b.add(&c.LoginAddrMaxFailures, "login-addr-max-failures", "failed logins from one address, any e-mails, before the address is refused for the window; 0 disables", atLeast(0))
	b.add(&c.LoginEmailSlowAfter, "login-email-slow-after", "failed logins of one e-mail from any addresses after which attempts from addresses it never logged in from wait doubling delays; 0 disables", atLeast(0))
	b.add(&c.LoginMaxDelay, "login-max-delay", "longest of those delays", atLeast(time.Second))
	b.add(&c.LoginFailureWindow, "login-failure-window", "window in which failed logins count", positive[time.Duration]())
	b.add(&c.Regions, "regions", "regions agents may run in, the first being the default", notEmpty[string]())
	b.add(&c.EndpointTemplate, "endpoint-template", "URL of an agent's endpoint with {name} (the agent's name) and {org} (its organization's slug) as labels of the host; default http://{name}.{org}.localhost:PORT, PORT being the listen address's")
	b.add(&c.AllowFileURLs, "allow-file-urls", "accept file:// binary URLs (local use only)")
	b.add(&c.AllowPrivateBinaryURLs, "allow-private-binary-urls", "let binary downloads reach loopback and private addresses (local use only)")
	b.add(&c.MaxReplicas, "max-replicas", "most replicas one agent may have", atLeast(1))
	b.add(&c.MaxAgentWait, "max-agent-wait", "longest timeout of a wait for an agent's status")
	b.add(&c.MetricsInterval, "metrics-interval", "how often running agents are sampled for metrics", atLeast(time.Second))
	b.add(&c.BillingHeartbeat, "billing-heartbeat", "how often billing moves open replica intervals' last-seen time and records endpoint bytes and stored bytes", atLeast(time.Second))
	b.add(&c.BillingPrices, "billing-prices", "price list overrides: compute=0.05,storage=0.02,network=0.05 (per hour, GB-month, GB), or @file with that text")
	b.add(&c.BootstrapRateLimit, "bootstrap-rate-limit", "requests per minute of the organization created on first start (enterprise tier)", atLeast(1))
	b.add(&c.RuntimeIsolation, "runtime-isolation", "on: every replica sandboxed (runc, pasta, tini and nft needed; without them no agent starts); off: plain processes with the server's user, files and network, for one trusted tenant only", oneOf("on", "off"))
	b.add(&c.SandboxDir, "sandbox-dir", "folder of the sandboxes' bundles, traversable by their users; empty for one under /run")
	b.add(&c.ReplicaMaxProcesses, "replica-max-processes", "processes and threads one replica may have at once", atLeast(1))
	b.add(&c.ReplicaMaxOpenFiles, "replica-max-open-files", "files one replica process may hold open", atLeast(16))
	b.add(&c.ReplicaMaxFileBytes, "replica-max-file-bytes", "largest file a replica may write, in bytes", atLeast(1))
	b.add(&c.StopGrace, "stop-grace", "time a replica gets between SIGTERM and SIGKILL", positive[time.Duration]())
	b.add(&c.FetchTimeout, "fetch-timeout", "timeout of an agent binary's download", positive[time.Duration]())
	b.add(&c.MaxBinaryBytes, "max-binary-bytes", "largest agent binary accepted, in bytes", atLeast(1))
	b.add(&c.FetchMinRate, "fetch-min-rate", "bytes per second a binary download must bring, averaged over the fetch rate window, or it is aborted", atLeast(1))
	b.add(&c.FetchRateWindow, "fetch-rate-window", "window over which a binary download's rate is averaged", positive[time.Duration]())
	b.add(&c.MaxDownloads, "max-downloads", "binary downloads running at once", atLeast(1))
	b.add(&c.MaxDownloadsPerOrg, "max-downloads-per-org", "binary downloads of one organization running at once", atLeast(1))
	b.add(&c.RestartBackoffMax, "restart-backoff-max", "longest wait before a crashed replica restarts", positive[time.Duration]())
	b.add(&c.RestartBackoffBase, "restart-backoff-base", "wait before a crashed replica's first restart, doubling up to the longest", positive[time.Duration]())
	b.add(&c.ReconcileInterval, "reconcile-interval", "period of the runtime's full reconcile, which catches missed changes", positive[time.Duration]())
	b.add(&c.ReplicaReadyAfter, "replica-ready-after", "when a replica that does not listen on its PORT counts as up", positive[time.Duration]())
	b.add(&c.CrashLoopThreshold, "crash-loop-threshold", "crashes within the crash-loop window that put an agent in error", atLeast(1))
	b.add(&c.CrashLoopWindow, "crash-loop-window", "window in which crashes count towards a crash loop", positive[time.Duration]())
	b.add(&c.LogMaxLines, "log-max-lines", "log lines kept per agent", atLeast(1))
	b.add(&c.LogMaxAge, "log-max-age", "how long log lines are kept", positive[time.Duration]())
	b.add(&c.LogRateLines, "log-rate-lines", "log lines per second one agent's replicas may write; more are dropped and counted", atLeast(1))
	b.add(&c.LogRateBytes, "log-rate-bytes", "log bytes per second one agent's replicas may write; more are dropped and counted", atLeast(1))
	b.add(&c.LogRateBurst, "log-rate-burst", "how many seconds' worth of the log rate a quiet agent may write at once", positive[time.Duration]())
	b.add(&c.LogMaxLineBytes, "log-max-line-bytes", "longest log line in bytes; longer ones are cut and marked", between(256, MaxLogLineBytes))
	b.add(&c.LogQueueBytes, "log-queue-bytes", "bytes of log lines waiting to be written; more are dropped", atLeast(1))
	b.add(&c.LogMaxBytesPerOrg, "log-max-bytes-per-org", "log message bytes kept per organization; retention drops its oldest lines past it", atLeast(1))
	b.add(&c.LogFlushLines, "log-flush-lines", "log lines that start a write, and the rows of one INSERT", atLeast(1))
	b.add(&c.LogFlushInterval, "log-flush-interval", "longest a log line waits to be written", positive[time.Duration]())
	b.add(&c.LogDropReportInterval, "log-drop-report-interval", "how often an agent over its log rate gets one line counting what was dropped", positive[time.Duration]())
	b.add(&c.LogRetentionInterval, "log-retention-interval", "how often log retention runs", positive[time.Duration]())
	b.add(&c.AllowedOrigins, "allowed-origins", "browser origins allowed to open GraphQL WebSockets")
	b.add(&c.StreamUserCheck, "stream-user-check", "how often a live stream checks that its token still holds (user exists, password unchanged)")
	b.add(&c.EventRetention, "event-retention", "how long events are kept in the event log", positive[time.Duration]())
	b.add(&c.AllowPrivateWebhookURLs, "allow-private-webhook-urls", "let webhook deliveries reach loopback and private addresses (local use only)")
	b.add(&c.WebhookTimeout, "webhook-timeout", "timeout of one webhook delivery attempt", positive[time.Duration]())
	b.add(&c.WebhookRetrySchedule, "webhook-retry-schedule", "wait before each attempt of a webhook delivery, the first usually 0s; jittered by up to a fifth", notEmpty[time.Duration]())
	b.add(&c.WebhookWorkers, "webhook-workers", "webhook delivery attempts sent at once", atLeast(1))
	b.add(&c.WebhookDisableAfter, "webhook-disable-after", "how long an endpoint may keep failing before it is disabled", positive[time.Duration]())
	b.add(&c.MaxSubscriptionsPerConnection, "max-subscriptions-per-connection", "subscriptions one WebSocket connection may hold open", atLeast(1))
	b.add(&c.MaxSubscriptionsPerUser, "max-subscriptions-per-user", "subscriptions one user may hold open over all its WebSocket connections", atLeast(1))

	return &Binding{Config: &c, Settings: b.settings, errs: b.errs}
}

// Finish returns the configuration once flags are parsed, or every error
// of the environment's values and of the checks across settings.
func (bd *Binding) Finish() (Config, error) {
	errs := bd.errs
	for _, st := range bd.Settings {
		for _, r := range st.rules {
			if must := r(st.Value.Get()); must != "" {
				errs = append(errs, fmt.Errorf("%s: must be %s", st.Env, must))
			}
		}
	}
	if c := bd.Config; c.RuntimeDriver == RuntimeKubernetes && c.Kube.ControlURL == "" {
		errs = append(errs, errors.New("NEUAIS_KUBE_CONTROL_URL: must be set with NEUAIS_RUNTIME_DRIVER=kubernetes"))
	}
	if c := bd.Config; c.RestartBackoffMax < c.RestartBackoffBase {
		errs = append(errs, fmt.Errorf("NEUAIS_RESTART_BACKOFF_MAX: must be at least NEUAIS_RESTART_BACKOFF_BASE (%s)", c.RestartBackoffBase))
	}
	return *bd.Config, errors.Join(errs...)
}

// binder defines the configuration's flags on a flag set, each read first
// from its environment variable.
type binder struct {
	getenv   func(string) string
	own      map[string]bool // the caller's flags, left alone
	errs     []error
	settings []Setting
}

// add binds the flag name over p, a pointer to a configuration field: its
// environment variable, when set, replaces the default, and the flag
// replaces both; Finish checks the result against rules.
func (b *binder) add(p any, name, usage string, rules ...rule) {
	switch p := p.(type) {
	case *string:
		bind(b, p, name, usage, "text", func(v string) (string, error) { return v, nil }, func(v string) string { return v }, rules)
	case *int:
		bind(b, p, name, usage, "an integer", strconv.Atoi, strconv.Itoa, rules)
	case *bool:
		bind(b, p, name, usage, "true or false", strconv.ParseBool, strconv.FormatBool, rules)
	case *time.Duration:
		bind(b, p, name, usage, "a duration such as 10s", time.ParseDuration, time.Duration.String, rules)
	case *slog.Level:
		bind(b, p, name, usage, "debug, info, warn or error", func(v string) (slog.Level, error) {
			var l slog.Level
			return l, l.UnmarshalText([]byte(v))
		}, func(l slog.Level) string { return strings.ToLower(l.String()) }, rules)
	case *[]time.Duration:
		bind(b, p, name, usage+" (comma-separated)", "a comma-separated list of durations such as 0s,5s,5m", parseDurations, formatDurations, rules)
	case *[]string:
		bind(b, p, name, usage+" (comma-separated)", "a comma-separated list", func(v string) ([]string, error) { return splitList(v), nil },
			func(l []string) string { return strings.Join(l, ",") }, rules)
	default:
		panic(fmt.Sprintf("config: no flag type for %T (%s)", p, name))
	}
}

func bind[T any](b *binder, p *T, name, usage, want string, parse func(string) (T, error), format func(T) string, rules []rule) {
	if b.own[name] {
		return
	}
	def := format(*p)
	v := &value[T]{p: p, parse: parse, format: format}
	if raw := b.getenv(envName(name)); raw != "" {
		if err := v.Set(raw); err != nil {
			b.errs = append(b.errs, fmt.Errorf("%s: must be %s", envName(name), want))
		}
	}
	b.settings = append(b.settings, Setting{Name: name, Env: envName(name), Usage: usage, Default: def, Value: v, rules: rules})
}

// rule checks a setting's final value: what it must be, or "" when it is.
type rule func(v any) string

func atLeast[T int | time.Duration](low T) rule {
	return func(v any) string {
		if v.(T) < low {
			return fmt.Sprint("at least ", low)
		}
		return ""
	}
}

func positive[T int | time.Duration]() rule {
	return func(v any) string {
		if v.(T) <= 0 {
			return "positive"
		}
		return ""
	}
}

func between(low, high int) rule {
	return func(v any) string {
		if n := v.(int); n < low || n > high {
			return fmt.Sprintf("between %d and %d", low, high)
		}
		return ""
	}
}

func oneOf(choices ...string) rule {
	return func(v any) string {
		if !slices.Contains(choices, v.(string)) {
			return "one of " + strings.Join(choices, ", ")
		}
		return ""
	}
}

func notEmpty[T any]() rule {
	return func(v any) string {
		if len(v.([]T)) == 0 {
			return "a list of at least one"
		}
		return ""
	}
}

// wholeSeconds: X-RateLimit-Reset and Retry-After count in seconds.
func wholeSeconds(v any) string {
	if v.(time.Duration)%time.Second != 0 {
		return "whole seconds"
	}
	return ""
}

// usage prints fs's flags with their variables and built-in defaults
// (never values taken from the environment, which may be secrets).
func (bd *Binding) usage(fs *flag.FlagSet) {
	out := fs.Output()
	defaults := map[string]string{}
	for _, st := range bd.Settings {
		defaults[st.Name] = st.Default
	}
	fmt.Fprintf(out, "usage of %s (every flag also reads the variable named beside it):\n", fs.Name())
	fs.VisitAll(func(f *flag.Flag) {
		def, ours := defaults[f.Name]
		if !ours {
			def = f.DefValue
		}
		env := ""
		if ours {
			env = envName(f.Name) + ", "
		}
		fmt.Fprintf(out, "  --%s\n    \t%s (%sdefault %s)\n", f.Name, f.Usage, env, QuoteDefault(def))
	})
}

// QuoteDefault spells a default for help texts: quoted, or "empty".
func QuoteDefault(def string) string {
	if def == "" {
		return "empty"
	}
	return strconv.Quote(def)
}

// value is a flag.Value over a configuration field.
type value[T any] struct {
	p      *T
	parse  func(string) (T, error)
	format func(T) string
}

func (v *value[T]) Set(raw string) error {
	x, err := v.parse(raw)
	if err != nil {
		return err
	}
	*v.p = x
	return nil
}

// Get returns the current value (flag.Getter).
func (v *value[T]) Get() any { return *v.p }

func (v *value[T]) String() string {
	if v == nil || v.p == nil {
		return ""
	}
	return v.format(*v.p)
}

// IsBoolFlag lets boolean flags stand alone (--introspection).
func (v *value[T]) IsBoolFlag() bool {
	_, ok := any(v.p).(*bool)
	return ok
}

func envName(flagName string) string {
	return "NEUAIS_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func parseDurations(v string) ([]time.Duration, error) {
	var out []time.Duration
	for _, s := range splitList(v) {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return nil, fmt.Errorf("duration %q", s)
		}
		out = append(out, d)
	}
	return out, nil
}

func formatDurations(l []time.Duration) string {
	s := make([]string, len(l))
	for i, d := range l {
		s[i] = d.String()
	}
	return strings.Join(s, ",")
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
