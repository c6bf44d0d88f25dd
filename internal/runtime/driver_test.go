package runtime_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/runtime"
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
	waitFor(t, 20*time.Second, func() bool {
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
	waitFor(t, 20*time.Second, func() bool {
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
