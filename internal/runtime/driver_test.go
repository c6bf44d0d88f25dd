package runtime_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/runtime"
	"github.com/neuais/neuais/models"
)

func TestLocalDriverScaleAndRestart(t *testing.T) {
	t.Parallel()
	cfg := defaultConfig(t)
	cfg.ReadyAfter = time.Second
	d := startDriver(t, cfg, &memSink{})
	spec := runtime.Spec{AgentID: "agt_driver", OrgID: "org_driver", Name: "driver", Generation: 1, BinaryPath: agentPath, Replicas: 1}
	if err := d.Apply(spec); err != nil {
		t.Fatal(err)
	}
	waitDriverUp(t, d, spec.AgentID, 1)

	if err := d.Scale(spec.AgentID, 3); err != nil {
		t.Fatal(err)
	}
	before := waitDriverUp(t, d, spec.AgentID, 3)

	if err := d.Restart(spec.AgentID); err != nil {
		t.Fatal(err)
	}
	apitest.Eventually(t, 20*time.Second, "the runtime", func() bool {
		now := d.Replicas(spec.AgentID)
		if len(now) != 3 {
			return false
		}
		for i, r := range now {
			if r.PID == before[i].PID || !r.Up {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("replicas %+v not all restarted", d.Replicas(spec.AgentID)) })
	waitAllDead(t, pidsOf(before))

	if err := d.Scale("agt_unknown", 1); err == nil {
		t.Error("Scale of an unknown agent succeeded")
	}
	after := d.Replicas(spec.AgentID)
	if err := d.Stop(context.Background(), spec.AgentID); err != nil {
		t.Fatal(err)
	}
	waitAllDead(t, pidsOf(after))
	if st := d.State(spec.AgentID); st != (runtime.AgentState{}) {
		t.Errorf("state after stop = %+v", st)
	}
}

func waitDriverUp(t *testing.T, d *runtime.LocalDriver, agentID string, n int) []runtime.Replica {
	t.Helper()
	var reps []runtime.Replica
	apitest.Eventually(t, 20*time.Second, "the runtime", func() bool {
		reps = d.Replicas(agentID)
		if len(reps) != n {
			return false
		}
		for _, r := range reps {
			if !r.Up || !alive(r.PID) {
				return false
			}
		}
		return d.State(agentID).Up == n
	}, func() string { return fmt.Sprintf("replicas %+v, want %d up", reps, n) })
	return reps
}

// TestLocalDriverKillsProcessGroup checks the unsandboxed driver, whose
// replicas' pids are the host's; TestHostileAgent checks the sandbox.
func TestLocalDriverKillsProcessGroup(t *testing.T) {
	t.Parallel()
	cfg := defaultConfig(t)
	cfg.Isolation = runtime.IsolationOff
	cfg.ReadyAfter = time.Second
	cfg.StopGrace = 300 * time.Millisecond
	cfg.BackoffBase = 50 * time.Millisecond
	sink := &memSink{}
	d := startDriver(t, cfg, sink)
	spec := runtime.Spec{
		AgentID: "agt_group", OrgID: "org_group", Name: "group", Generation: 1, BinaryPath: agentPath, Replicas: 1,
		Environment: map[string]string{"SPAWN_CHILD": "1", "IGNORE_SIGTERM": "1"},
	}
	if err := d.Apply(spec); err != nil {
		t.Fatal(err)
	}
	leader := waitDriverUp(t, d, spec.AgentID, 1)[0]
	child := waitChildPID(t, sink, spec.AgentID, 1)

	t.Run("usage counts the whole group", func(t *testing.T) {
		got := d.Usage(spec.AgentID).MemoryMiB
		leaderOnly := rssMiB(t, leader.PID)
		if got <= leaderOnly {
			t.Errorf("memory = %.2f MiB, no more than the replica's own %.2f MiB", got, leaderOnly)
		}
	})

	t.Run("crash kills what the replica left", func(t *testing.T) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/crash", leader.Port))
		if err == nil {
			resp.Body.Close()
		}
		waitAllDead(t, []int{leader.PID, child})
		apitest.Eventually(t, 20*time.Second, "the runtime", func() bool {
			reps := d.Replicas(spec.AgentID)
			return len(reps) == 1 && reps[0].Up && reps[0].PID != leader.PID
		}, func() string { return "replica did not restart" })
		sink.waitLine(t, spec.AgentID, "Replica 1 exited with status 1")
	})

	t.Run("stop escalates to SIGKILL of the group", func(t *testing.T) {
		leader := d.Replicas(spec.AgentID)[0]
		child := waitChildPID(t, sink, spec.AgentID, 2)
		started := time.Now()
		if err := d.Stop(context.Background(), spec.AgentID); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(started); took < cfg.StopGrace {
			t.Errorf("stop took %s, less than the grace period: SIGTERM was not ignored?", took)
		}
		waitAllDead(t, []int{leader.PID, child})
	})
}

// waitChildPID returns the pid the nth run of the agent logged for its child.
func waitChildPID(t *testing.T, sink *memSink, agentID string, nth int) int {
	t.Helper()
	var lines []models.LogLine
	apitest.Eventually(t, 20*time.Second, "the runtime", func() bool {
		lines = sink.matching(agentID, "child pid ")
		return len(lines) >= nth
	}, func() string { return fmt.Sprintf("%d child pid lines, want %d", len(lines), nth) })
	pid, err := strconv.Atoi(strings.TrimPrefix(lines[nth-1].Message, "child pid "))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitLine waits for a line of agentID containing substr.
func (s *memSink) waitLine(t *testing.T, agentID, substr string) {
	t.Helper()
	apitest.Eventually(t, 20*time.Second, "the runtime", func() bool { _, ok := s.find(agentID, substr); return ok },
		func() string { return fmt.Sprintf("no log line containing %q", substr) })
}

// rssMiB reads the resident set size of pid.
func rssMiB(t *testing.T, pid int) float64 {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		t.Fatal(err)
	}
	pages, err := strconv.Atoi(strings.Fields(string(data))[1])
	if err != nil {
		t.Fatal(err)
	}
	return float64(pages*os.Getpagesize()) / (1 << 20)
}

// TestLocalDriverTransitions: every replica process's start and end reach
// the meter in order, stamped by the injected clock, a crash ends one
// instance before the restart's begins, and the platform lines carry the
// same times.
func TestLocalDriverTransitions(t *testing.T) {
	t.Parallel()
	var (
		mu   sync.Mutex
		seen []runtime.Transition
		tick int
	)
	base := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	cfg := defaultConfig(t)
	cfg.ReadyAfter = time.Second
	cfg.BackoffBase = 50 * time.Millisecond
	// Each reading is one second after the previous: a time seen in a
	// transition can only have come from this clock.
	cfg.Clock = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		tick++
		return base.Add(time.Duration(tick) * time.Second)
	}
	cfg.Meter = func(tr runtime.Transition) {
		mu.Lock()
		seen = append(seen, tr)
		mu.Unlock()
	}
	transitions := func() []runtime.Transition {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(seen)
	}
	sink := &memSink{}
	d := startDriver(t, cfg, sink)
	spec := runtime.Spec{
		AgentID: "agt_meter", OrgID: "org_meter", Name: "meter", Generation: 1, BinaryPath: agentPath, Replicas: 1,
		Environment: map[string]string{"CRASH_AFTER_MS": "300", "CRASH_TIMES": "1"},
	}
	if err := d.Apply(spec); err != nil {
		t.Fatal(err)
	}
	apitest.Eventually(t, 20*time.Second, "the runtime", func() bool { return len(transitions()) >= 3 },
		func() string {
			return fmt.Sprintf("transitions %+v, want the crashed run's and its restart's", transitions())
		})
	running := waitDriverUp(t, d, spec.AgentID, 1)[0]
	if err := d.Stop(context.Background(), spec.AgentID); err != nil {
		t.Fatal(err)
	}

	got := transitions()
	if len(got) != 4 {
		t.Fatalf("transitions %+v, want up, down, up, down", got)
	}
	for i, tr := range got {
		if tr.Up != (i%2 == 0) || tr.AgentID != spec.AgentID || tr.OrgID != spec.OrgID || tr.Instance != got[i-i%2].Instance {
			t.Errorf("transition %d: %+v", i, tr)
		}
		if i > 0 && !tr.At.After(got[i-1].At) {
			t.Errorf("transition %d at %s, not after %s", i, tr.At, got[i-1].At)
		}
		if tr.At.Sub(base)%time.Second != 0 || tr.At.Before(base) {
			t.Errorf("transition %d at %s: not the injected clock's", i, tr.At)
		}
	}
	if got[0].Instance == got[2].Instance || !strings.HasPrefix(got[0].Instance, "1/") || got[2].Instance != running.Instance {
		t.Errorf("instances %q, %q; running %q", got[0].Instance, got[2].Instance, running.Instance)
	}
	started := sink.matching(spec.AgentID, "Replica 1 started")
	exited, _ := sink.find(spec.AgentID, "Replica 1 exited with status 1")
	stopped, _ := sink.find(spec.AgentID, "Replica 1 stopped")
	if len(started) != 2 || !started[0].Timestamp.Equal(got[0].At) || !exited.Timestamp.Equal(got[1].At) ||
		!started[1].Timestamp.Equal(got[2].At) || !stopped.Timestamp.Equal(got[3].At) {
		t.Errorf("platform lines started %+v exited %+v stopped %+v; transitions %+v", started, exited, stopped, got)
	}
}

// startDriver starts a local driver over cfg, shut down when the test ends.
func startDriver(t *testing.T, cfg runtime.Config, sink runtime.LogSink) *runtime.LocalDriver {
	t.Helper()
	d, err := runtime.NewLocalDriver(cfg, sink, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown(context.Background()) }) //nolint:errcheck
	return d
}
