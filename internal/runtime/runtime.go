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
//	cfg.Meter = recorder.Transition                       // billing's replica intervals
//	driver, err := runtime.NewLocalDriver(cfg, logStore, logger) // logStore is a LogSink
//	m, err := runtime.New(db, bus, logStore, driver, cfg, logger)
//	err = m.Start(ctx)                                    // also brings agents back
//	agentsService := agents.NewService(db, bus, agentsCfg, m, logger)
//	endpoints, err := models.ParseEndpointTemplate(endpointTemplate)
//	handler := m.Proxy(endpoints, apiHandler)                // runtime.Off{} stands in for m where no agent runs
//	registry.Register(health.Component{Name: "runtime", Check: m.HealthCheck()})
//	defer m.Shutdown(shutdownCtx)
package runtime

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/neuais/neuais/models"
)

// Config tunes the runtime (config.Default holds the server's values).
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
	// Meter, when set, is told when each replica process starts and ends
	// (billing's intervals). It is called in order for each replica with
	// the replica's lock held, so it must only queue.
	Meter func(Transition)
	// Clock stamps transitions and the platform lines that report them.
	Clock func() time.Time
}

// Transition is a replica process starting (Up) or ending, at the time
// the runtime saw it happen.
type Transition struct {
	AgentID, OrgID string
	// Instance names the process ("2/4711/1764700000123456": index, pid,
	// start in Unix microseconds), so that a restart is a new instance.
	Instance string
	Up       bool
	At       time.Time
}

// Validate reports every field missing or out of range.
func (c Config) Validate() error {
	var errs []error
	check := func(ok bool, field, must string) {
		if !ok {
			errs = append(errs, fmt.Errorf("runtime: config: %s must be %s", field, must))
		}
	}
	check(c.DataDir != "", "DataDir", "set")
	check(c.FetchTimeout > 0, "FetchTimeout", "positive")
	check(c.FetchMinRate > 0, "FetchMinRate", "positive")
	check(c.FetchRateWindow > 0, "FetchRateWindow", "positive")
	check(c.MaxDownloads > 0, "MaxDownloads", "positive")
	check(c.MaxDownloadsPerOrg > 0, "MaxDownloadsPerOrg", "positive")
	check(c.MaxBinaryBytes > 0, "MaxBinaryBytes", "positive")
	check(c.StopGrace > 0, "StopGrace", "positive")
	check(c.BackoffBase > 0, "BackoffBase", "positive")
	check(c.BackoffMax >= c.BackoffBase, "BackoffMax", "at least BackoffBase")
	check(c.CrashLoopThreshold > 0, "CrashLoopThreshold", "positive")
	check(c.CrashLoopWindow > 0, "CrashLoopWindow", "positive")
	check(c.ReconcileInterval > 0, "ReconcileInterval", "positive")
	check(c.ReadyAfter > 0, "ReadyAfter", "positive")
	check(c.Isolation == IsolationOn || c.Isolation == IsolationOff, "Isolation", IsolationOn+" or "+IsolationOff)
	check(c.SandboxLimits.Processes > 0 && c.SandboxLimits.OpenFiles > 0 && c.SandboxLimits.FileBytes > 0, "SandboxLimits", "positive")
	check(c.Clock != nil, "Clock", "set")
	return errors.Join(errs...)
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
	Index int // 1-based
	PID   int // 0 while not running, or where the driver cannot see it
	Port  int
	// Host is the replica's address when it is not on this machine (a
	// pod's IP); empty for the local driver's loopback.
	Host       string
	Up         bool
	Generation int64
	// Instance names the running process as its transitions do; empty
	// between runs.
	Instance string
}

// Usage is the resource use of an agent's replicas right now.
type Usage struct {
	CPUPercent float64 // of one core, summed over replicas
	MemoryMiB  float64 // resident set size, summed over replicas
}

// Driver runs agents' replicas. The local driver runs processes; a cluster
// engine can implement the same contract. A driver writes replica output and
// replica platform lines ("Replica 2 exited with status 1") to the LogSink it
// was built with, calls its change callback whenever an agent's State may
// have changed, and reports every replica process's start and end to
// Config.Meter.
type Driver interface {
	// OnChange sets what is called, without blocking, whenever an agent's
	// State may have changed (the Manager's Reconcile).
	OnChange(f func(agentID string))
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
	// Agents lists the agents the driver runs, those it adopted in Recover
	// included, so that the Manager stops those deleted meanwhile.
	Agents() []string
	// Usage samples the agent's CPU and memory use.
	Usage(agentID string) Usage
	// Isolation says whether replicas are isolated from the server and from
	// each other, and how, with the limits in force, for health reports.
	Isolation() (safe bool, detail string)
	// Shutdown stops every replica of every agent within ctx.
	Shutdown(ctx context.Context) error
}
