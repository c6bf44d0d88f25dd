package runtime_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/kubetest"
	"github.com/neuais/neuais/internal/runtime"
	"github.com/neuais/neuais/internal/runtime/kube"
)

// TestDriverContract runs the one contract every driver keeps: on the
// local driver always, on the Kubernetes driver against the test cluster.
func TestDriverContract(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		t.Parallel()
		cfg := defaultConfig(t)
		cfg.ReadyAfter = time.Second
		testDriverContract(t, startDriver(t, cfg, &memSink{}), runtime.Spec{BinaryPath: agentPath, BinarySHA256: agentSHA256})
	})
	t.Run("kubernetes", func(t *testing.T) {
		t.Parallel()
		cluster := kubetest.Get(t)
		// Static, for the runner image; served as a URL the pods reach.
		static, cleanup, err := apitest.BuildStaticAgent("./testdata/agent")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cleanup)
		sum, err := fileSHA256(static)
		if err != nil {
			t.Fatal(err)
		}
		ln := cluster.Listen(t, "0")
		srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.ServeFile(w, r, static)
		})}
		go srv.Serve(ln) //nolint:errcheck
		t.Cleanup(func() { srv.Close() })
		d := startKubeDriver(t, cluster.DriverConfig(cluster.Namespace(t)))
		testDriverContract(t, d, runtime.Spec{BinaryURL: "http://" + ln.Addr().String() + "/agent", BinarySHA256: sum})
	})
}

func startKubeDriver(t *testing.T, cfg kube.Config) *kube.Driver {
	t.Helper()
	cfg.Runtime = defaultConfig(t)
	cfg.Runtime.ReadyAfter = time.Second
	cfg.Runtime.StopGrace = 2 * time.Second
	return kubetest.StartDriver(t, cfg, &memSink{})
}

// testDriverContract drives one agent through a driver: apply, the same
// apply again (nothing restarts), scale up and down, restart, stop.
func testDriverContract(t *testing.T, d runtime.Driver, binary runtime.Spec) {
	spec := binary
	spec.AgentID, spec.OrgID, spec.Name, spec.Generation = "agt_c0ffee00c0ffee00", "org_contract", "contract", 1
	spec.Replicas, spec.CPU, spec.Memory = 2, "0.1", "64Mi"
	spec.Environment = map[string]string{"GREETING": "hello contract"}
	if err := d.Apply(spec); err != nil {
		t.Fatal(err)
	}
	first := waitContractUp(t, d, spec.AgentID, 2)
	for _, r := range first {
		if got := get(t, r, "/"); got != fmt.Sprintf("replica %d", r.Index) {
			t.Errorf("replica %d at %s answers %q", r.Index, r.Address(), got)
		}
		if got := get(t, r, "/env?name=GREETING"); got != "hello contract" {
			t.Errorf("replica %d: GREETING = %q", r.Index, got)
		}
	}
	if !slices.Contains(d.Agents(), spec.AgentID) {
		t.Errorf("Agents() = %v, without %s", d.Agents(), spec.AgentID)
	}

	// The same spec at a new generation changes no replica.
	spec.Generation = 2
	if err := d.Apply(spec); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if again := d.Replicas(spec.AgentID); !sameInstances(first, again) {
		t.Errorf("applying the same template replaced replicas: %+v, then %+v", first, again)
	}

	if err := d.Scale(spec.AgentID, 3); err != nil {
		t.Fatal(err)
	}
	waitContractUp(t, d, spec.AgentID, 3)
	if err := d.Scale(spec.AgentID, 1); err != nil {
		t.Fatal(err)
	}
	one := waitContractUp(t, d, spec.AgentID, 1)

	spec.Generation, spec.Replicas = 3, 1
	if err := d.Apply(spec); err != nil {
		t.Fatal(err)
	}
	if err := d.Restart(spec.AgentID); err != nil {
		t.Fatal(err)
	}
	apitest.Eventually(t, 90*time.Second, "the restart", func() bool {
		now := d.Replicas(spec.AgentID)
		return len(now) == 1 && now[0].Up && now[0].Instance != one[0].Instance && now[0].Generation >= 3
	}, func() string { return fmt.Sprintf("replicas %+v, before %+v", d.Replicas(spec.AgentID), one) })

	if err := d.Scale("agt_unknown", 1); err == nil {
		t.Error("Scale of an unknown agent succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := d.Stop(ctx, spec.AgentID); err != nil {
		t.Fatal(err)
	}
	if st := d.State(spec.AgentID); st != (runtime.AgentState{}) {
		t.Errorf("state after stop = %+v", st)
	}
	apitest.Eventually(t, 30*time.Second, "the stop", func() bool {
		return len(d.Replicas(spec.AgentID)) == 0 && !slices.Contains(d.Agents(), spec.AgentID)
	}, func() string { return fmt.Sprintf("replicas %+v, agents %v", d.Replicas(spec.AgentID), d.Agents()) })
}

func waitContractUp(t *testing.T, d runtime.Driver, agentID string, n int) []runtime.Replica {
	t.Helper()
	var reps []runtime.Replica
	apitest.Eventually(t, 90*time.Second, "the driver", func() bool {
		reps = d.Replicas(agentID)
		up := 0
		for _, r := range reps {
			if r.Up {
				up++
			}
		}
		st := d.State(agentID)
		return len(reps) == n && up == n && st.Up == n && st.Desired == n && !st.CrashLoop
	}, func() string { return fmt.Sprintf("replicas %+v, state %+v", d.Replicas(agentID), d.State(agentID)) })
	return reps
}

func sameInstances(x, y []runtime.Replica) bool {
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if x[i].Instance != y[i].Instance || x[i].Instance == "" {
			return false
		}
	}
	return true
}

// get answers path from the replica directly, at its address.
func get(t *testing.T, r runtime.Replica, path string) string {
	t.Helper()
	var body string
	apitest.Eventually(t, 20*time.Second, "the replica", func() bool {
		res, err := http.Get("http://" + r.Address() + path)
		if err != nil {
			return false
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		body = strings.TrimSpace(string(b))
		return res.StatusCode == http.StatusOK
	}, func() string { return "no answer from " + r.Address() + path })
	return body
}
