// Package runtime runs agents: it reconciles the actual state of every agent
// (its replicas as processes) to the desired state the API stores, reports
// the agent's status and lifecycle events, captures the replicas' output
// into the logs pipeline, and reverse-proxies the agents' endpoints.
//
// The Manager is the reconciler; a Driver runs the replicas. LocalDriver,
// the default, runs them as supervised child processes on this machine.
//
// Wiring, in short:
//
//	m, err := runtime.New(db, bus, logStore, cfg, logger) // logStore is a LogSink
//	err = m.Start(ctx)                                    // also brings agents back
//	agentsService := agents.NewService(db, bus, agentsCfg, m, logger)
//	endpoints, err := models.ParseEndpointTemplate(endpointTemplate)
//	handler := m.Proxy(endpoints, apiHandler)
//	registry.Register(health.Component{Name: "runtime", Check: m.HealthCheck()})
//	defer m.Shutdown(shutdownCtx)
package runtime

import (
	"context"
	"time"

	"github.com/neuais/neuais/models"
)

// Config tunes the runtime. Zero fields take the values of DefaultConfig.
type Config struct {
	// DataDir holds the binary cache, the replicas' working directories
	// and the file of process groups that survives a server crash.
	DataDir string
	// AllowFileURLs lets binary URLs use file:// (local development only:
	// it exposes the server's file system to API users).
	AllowFileURLs bool
	// AllowPrivateURLs lets binary downloads reach loopback, private and
	// link-local addresses (local development). Off, an address of those
	// kinds is refused when dialled, after name resolution, so that a
	// binary URL cannot make the server probe its own network.
	AllowPrivateURLs bool
	// FetchTimeout bounds one binary download from connect to last byte.
	FetchTimeout time.Duration
	// FetchMinRate (bytes per second) and FetchRateWindow: a download that
	// brings fewer than FetchMinRate×FetchRateWindow bytes in a window is
	// aborted, so that a trickling server cannot hold a download slot for
	// the whole FetchTimeout.
	FetchMinRate    int64
	FetchRateWindow time.Duration
	// MaxDownloads and MaxDownloadsPerOrg bound the binary downloads
	// running at once, in all and per organization.
	MaxDownloads       int
	MaxDownloadsPerOrg int
	// MaxBinaryBytes caps the size of a downloaded binary.
	MaxBinaryBytes int64
	// StopGrace is the time between SIGTERM and SIGKILL of a replica.
	StopGrace time.Duration
	// BackoffBase and BackoffMax bound the exponential delay before a
	// crashed replica restarts.
	BackoffBase time.Duration
	BackoffMax  time.Duration
	// CrashLoopThreshold crashes within CrashLoopWindow put the agent in
	// error; it leaves error after a window without crashes or on a new spec.
	CrashLoopThreshold int
	CrashLoopWindow    time.Duration
	// ReconcileInterval is the period of the full reconcile that catches
	// missed triggers and clears crash loops that have calmed down.
	ReconcileInterval time.Duration
	// ReadyAfter is when a replica that does not listen on its PORT counts
	// as up; one that listens is up as soon as it accepts a connection.
	ReadyAfter time.Duration
	// Isolation is IsolationOn (replicas sandboxed; if the host cannot,
	// none starts) or IsolationOff (plain processes, one trusted tenant).
	Isolation string
	// SandboxDir holds the sandboxes' bundles; empty is a folder under
	// /run named after DataDir. SandboxLimits bound each replica.
	SandboxDir    string
	SandboxLimits SandboxLimits
	// Secrets decrypts agents' environments as the runtime reads them.
	Secrets models.Sealer
}

// DefaultConfig returns the defaults for a server whose data lives in dataDir.
func DefaultConfig(dataDir string) Config {
	return Config{
		DataDir:            dataDir,
		FetchTimeout:       5 * time.Minute,
		FetchMinRate:       10 << 10,
		FetchRateWindow:    30 * time.Second,
		MaxDownloads:       8,
		MaxDownloadsPerOrg: 2,
		MaxBinaryBytes:     512 << 20,
		StopGrace:          10 * time.Second,
		BackoffBase:        500 * time.Millisecond,
		BackoffMax:         30 * time.Second,
		CrashLoopThreshold: 5,
		CrashLoopWindow:    2 * time.Minute,
		ReconcileInterval:  30 * time.Second,
		ReadyAfter:         2 * time.Second,
		Isolation:          IsolationOn,
		SandboxLimits:      SandboxLimits{Processes: 512, OpenFiles: 4096, FileBytes: 16 << 30},
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig(c.DataDir)
	if c.FetchTimeout <= 0 {
		c.FetchTimeout = d.FetchTimeout
	}
	if c.FetchMinRate <= 0 {
		c.FetchMinRate = d.FetchMinRate
	}
	if c.FetchRateWindow <= 0 {
		c.FetchRateWindow = d.FetchRateWindow
	}
	if c.MaxDownloads <= 0 {
		c.MaxDownloads = d.MaxDownloads
	}
	if c.MaxDownloadsPerOrg <= 0 {
		c.MaxDownloadsPerOrg = d.MaxDownloadsPerOrg
	}
	if c.MaxBinaryBytes <= 0 {
		c.MaxBinaryBytes = d.MaxBinaryBytes
	}
	if c.StopGrace <= 0 {
		c.StopGrace = d.StopGrace
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = d.BackoffBase
	}
	if c.BackoffMax < c.BackoffBase {
		c.BackoffMax = max(d.BackoffMax, c.BackoffBase)
	}
	if c.CrashLoopThreshold <= 0 {
		c.CrashLoopThreshold = d.CrashLoopThreshold
	}
	if c.CrashLoopWindow <= 0 {
		c.CrashLoopWindow = d.CrashLoopWindow
	}
	if c.ReconcileInterval <= 0 {
		c.ReconcileInterval = d.ReconcileInterval
	}
	if c.ReadyAfter <= 0 {
		c.ReadyAfter = d.ReadyAfter
	}
	if c.Isolation == "" {
		c.Isolation = d.Isolation
	}
	if c.SandboxLimits.Processes <= 0 {
		c.SandboxLimits.Processes = d.SandboxLimits.Processes
	}
	if c.SandboxLimits.OpenFiles == 0 {
		c.SandboxLimits.OpenFiles = d.SandboxLimits.OpenFiles
	}
	if c.SandboxLimits.FileBytes == 0 {
		c.SandboxLimits.FileBytes = d.SandboxLimits.FileBytes
	}
	return c
}

// LogSink receives every log line of every agent: replica output
// (Replica ≥ 1) and platform lines (Replica 0). Append is called from the
// goroutines that read the replicas' output, so it must not block for long;
// a slow store should buffer and batch.
type LogSink interface {
	Append(line models.LogLine)
}

// Spec is what a driver runs for one agent; the agent's spec declares it
// (models.Agent.RunSpec) and what in it is a rollout (SameTemplate).
type Spec = models.RunSpec

// AgentState is a driver's view of one agent's replicas.
type AgentState struct {
	Desired int // replicas the last Apply or Scale asked for
	Up      int // replicas running and ready
	// CrashLoop is set while replicas keep crashing; LastExit says how the
	// last one ended ("replica 2 exited with status 1").
	CrashLoop bool
	LastExit  string
}

// Replica describes one replica slot.
type Replica struct {
	Index      int // 1-based
	PID        int // 0 while not running
	Port       int
	Up         bool
	Generation int64
}

// Usage is the resource use of an agent's replicas right now.
type Usage struct {
	CPUPercent float64 // of one core, summed over replicas
	MemoryMiB  float64 // resident set size, summed over replicas
}

// Driver runs agents' replicas. The local driver runs processes; a cluster
// engine can implement the same contract. A driver writes replica output and
// replica platform lines ("Replica 2 exited with status 1") to the LogSink it
// was built with, and calls its change callback whenever an agent's State
// may have changed.
type Driver interface {
	// Recover cleans up what a previous server left behind before anything
	// is applied (the local driver kills stale process groups).
	Recover(ctx context.Context) error
	// Apply deploys spec, or moves running replicas to it: it starts
	// missing replicas, stops the highest-numbered extra ones and replaces
	// replicas whose binary, environment or limits differ one at a time.
	// It returns once the change is under way; State shows the progress.
	Apply(spec Spec) error
	// Scale changes the replica count of an applied agent.
	Scale(agentID string, replicas int) error
	// Restart replaces every replica of an applied agent, one at a time.
	Restart(agentID string) error
	// Stop stops every replica of the agent and forgets it; it returns when
	// the processes are gone, killing them when ctx ends first.
	Stop(ctx context.Context, agentID string) error
	// State reports the agent's replicas; a zero State for unknown agents.
	State(agentID string) AgentState
	// Replicas lists the agent's replica slots by index.
	Replicas(agentID string) []Replica
	// Usage samples the agent's CPU and memory use.
	Usage(agentID string) Usage
	// Isolation says whether replicas are isolated from the server and from
	// each other, and how, with the limits in force, for health reports.
	Isolation() (safe bool, detail string)
	// Shutdown stops every replica of every agent within ctx.
	Shutdown(ctx context.Context) error
}
