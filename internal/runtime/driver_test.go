package runtime_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/runtime"
	"github.com/neuais/neuais/models"
)

func TestLocalDriverScaleAndRestart(t *testing.T) {
	t.Parallel()
	cfg := runtime.DefaultConfig(t.TempDir())
	cfg.ReadyAfter = time.Second
	d, err := runtime.NewLocalDriver(cfg, &memSink{}, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown(context.Background()) }) //nolint:errcheck
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
	cfg := runtime.DefaultConfig(t.TempDir())
	cfg.Isolation = runtime.IsolationOff
	cfg.ReadyAfter = time.Second
	cfg.StopGrace = 300 * time.Millisecond
	cfg.BackoffBase = 50 * time.Millisecond
	sink := &memSink{}
	d, err := runtime.NewLocalDriver(cfg, sink, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Shutdown(context.Background()) }) //nolint:errcheck
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
