package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/logs"
	"github.com/neuais/neuais/internal/runtime"
)

// runtimeConfig runs the local runtime with short timings so that crash
// loops and stops finish within a test.
func runtimeConfig(databaseURL, dataDir string) config.Config {
	cfg := apitest.Config(databaseURL, dataDir)
	cfg.RuntimeDriver = config.RuntimeLocal
	cfg.AllowPrivateBinaryURLs = true // the test binaries are served on 127.0.0.1
	cfg.StopGrace = 2 * time.Second
	cfg.RestartBackoffBase = 50 * time.Millisecond
	cfg.RestartBackoffMax = 200 * time.Millisecond
	cfg.CrashLoopThreshold = 3
	cfg.CrashLoopWindow = 20 * time.Second
	cfg.MetricsInterval = time.Second
	return cfg
}

type agentJSON struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Status   string `json:"status"`
	Replicas int    `json:"replicas"`
}

func decodeAgent(t *testing.T, res *apitest.Response) agentJSON {
	t.Helper()
	var a agentJSON
	if err := json.Unmarshal(res.Body, &a); err != nil || a.ID == "" {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	return a
}

// waitStatus waits through the API's own wait route.
func waitStatus(t *testing.T, s *apitest.Server, id, status string) {
	t.Helper()
	res := s.Do(http.MethodGet, "/v1/agents/"+id+"/wait?status="+status+"&timeout=60s", s.AdminToken, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("waiting for %s: %d %s", status, res.Status, res.Body)
	}
}

func alive(pid int) bool { return pid > 0 && syscall.Kill(pid, 0) == nil }

// livePIDs returns the running replicas' process ids.
func livePIDs(s *apitest.Server, id string) []int {
	var pids []int
	for _, r := range s.App.Runtime.Replicas(id) {
		if alive(r.PID) {
			pids = append(pids, r.PID)
		}
	}
	return pids
}

func logMessages(t *testing.T, s *apitest.Server, id string) string {
	t.Helper()
	if err := s.App.Logs.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines, err := s.App.Logs.Query(context.Background(), id, logs.Filter{Tail: logs.All})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%s %s\n", l.Level, l.Message)
	}
	return b.String()
}

// throughProxy asks the endpoint of the default organization's agent
// name, as a client would, through the server.
func throughProxy(t *testing.T, s *apitest.Server, name string) (int, string) {
	t.Helper()
	return throughHost(t, s, name+".default.localhost", "/")
}

// throughHost sends GET path to the server with the Host header host.
func throughHost(t *testing.T, s *apitest.Server, host, path string, headers ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, s.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func TestAgentLifecycleWithRealProcesses(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		cfg := runtimeConfig(url, t.TempDir())
		s := apitest.StartConfig(t, cfg)

		res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, map[string]any{
			"name": "worker", "runtime": "go", "binary_url": binaries.URL + "/agent",
			"config":      map[string]any{"cpu": "0.5", "memory": "128Mi", "replicas": 3},
			"environment": map[string]string{"GREETING": "hello"},
		})
		if res.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", res.Status, res.Body)
		}
		agent := decodeAgent(t, res)
		waitStatus(t, s, agent.ID, "running")

		t.Run("ThreeProcesses", func(t *testing.T) {
			apitest.Eventually(t, 30*time.Second, "three live replicas", func() bool { return len(livePIDs(s, agent.ID)) == 3 })
		})
		t.Run("LogsCaptured", func(t *testing.T) {
			var msgs string
			defer func() {
				if t.Failed() {
					t.Logf("log store:\n%s", msgs)
				}
			}()
			apitest.Eventually(t, 30*time.Second, "replica output in the log store", func() bool {
				msgs = logMessages(t, s, agent.ID)
				return strings.Contains(msgs, `debug {"level":"debug","msg":"json debug from replica`) &&
					strings.Contains(msgs, `warn {"level":"WARN","msg":"json warn"}`) &&
					strings.Contains(msgs, "warn [warning] bracketed warn") &&
					strings.Contains(msgs, "error ERROR: plain error") &&
					strings.Contains(msgs, "info env GREETING=hello") &&
					strings.Contains(msgs, "Agent started")
			})
		})
		t.Run("EndpointThroughProxy", func(t *testing.T) {
			status, body := throughProxy(t, s, "worker")
			if status != http.StatusOK || !strings.HasPrefix(body, "replica ") {
				t.Fatalf("%d %q", status, body)
			}
		})
		t.Run("ScaleDown", func(t *testing.T) {
			if res := s.Do(http.MethodPost, "/v1/agents/"+agent.ID+"/scale", s.AdminToken, map[string]int{"replicas": 1}); res.Status != http.StatusOK {
				t.Fatalf("scale: %d %s", res.Status, res.Body)
			}
			// A stopped replica's slot goes only after its supervisor has
			// returned, a moment after its process died: wait for both.
			var r []runtime.Replica
			defer func() {
				if t.Failed() {
					t.Logf("replicas: %+v", r)
				}
			}()
			apitest.Eventually(t, 30*time.Second, "one live replica and one slot", func() bool {
				r = s.App.Runtime.Replicas(agent.ID)
				return len(livePIDs(s, agent.ID)) == 1 && len(r) == 1
			})
			if r[0].Index != 1 {
				t.Fatalf("replicas after scale down: %+v", r)
			}
		})
		t.Run("StopLeavesNoProcess", func(t *testing.T) {
			pids := livePIDs(s, agent.ID)
			if res := s.Do(http.MethodPost, "/v1/agents/"+agent.ID+"/stop", s.AdminToken, nil); res.Status != http.StatusOK {
				t.Fatalf("stop: %d %s", res.Status, res.Body)
			}
			waitStatus(t, s, agent.ID, "stopped")
			apitest.Eventually(t, 30*time.Second, "no live process", func() bool {
				for _, pid := range pids {
					if alive(pid) {
						return false
					}
				}
				return len(livePIDs(s, agent.ID)) == 0
			})
			if status, _ := throughProxy(t, s, "worker"); status != http.StatusServiceUnavailable {
				t.Fatalf("proxy to a stopped agent: %d", status)
			}
		})
		t.Run("CrashLoopToErrorAndBack", func(t *testing.T) {
			res := s.Do(http.MethodPut, "/v1/agents/"+agent.ID, s.AdminToken, map[string]any{
				"environment": map[string]string{"GREETING": "hello", "CRASH_AFTER_MS": "50"},
			})
			if res.Status != http.StatusOK {
				t.Fatalf("update: %d %s", res.Status, res.Body)
			}
			if res := s.Do(http.MethodPost, "/v1/agents/"+agent.ID+"/start", s.AdminToken, nil); res.Status != http.StatusOK {
				t.Fatalf("start: %d %s", res.Status, res.Body)
			}
			waitStatus(t, s, agent.ID, "error")
			res = s.Do(http.MethodPut, "/v1/agents/"+agent.ID, s.AdminToken, map[string]any{
				"environment": map[string]string{"GREETING": "hello"},
			})
			if res.Status != http.StatusOK {
				t.Fatalf("update: %d %s", res.Status, res.Body)
			}
			waitStatus(t, s, agent.ID, "running")
		})

		var beforeRestart []int
		apitest.Eventually(t, 30*time.Second, "one live replica before the restart", func() bool {
			beforeRestart = livePIDs(s, agent.ID)
			return len(beforeRestart) == 1
		})
		s.Close()
		if err := s.App.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		for _, pid := range beforeRestart {
			if alive(pid) {
				t.Fatalf("replica %d outlived the server's shutdown", pid)
			}
		}

		s = apitest.StartConfig(t, cfg)
		t.Run("RestartBringsItBack", func(t *testing.T) {
			waitStatus(t, s, agent.ID, "running")
			apitest.Eventually(t, 30*time.Second, "a new live replica", func() bool {
				pids := livePIDs(s, agent.ID)
				return len(pids) == 1 && pids[0] != beforeRestart[0]
			})
		})
		t.Run("DeleteLeavesNothing", func(t *testing.T) {
			pids := livePIDs(s, agent.ID)
			if res := s.Do(http.MethodDelete, "/v1/agents/"+agent.ID, s.AdminToken, nil); res.Status != http.StatusOK {
				t.Fatalf("delete: %d %s", res.Status, res.Body)
			}
			apitest.Eventually(t, 30*time.Second, "no process and no cached binary", func() bool {
				for _, pid := range pids {
					if alive(pid) {
						return false
					}
				}
				_, err := os.Stat(filepath.Join(cfg.DataDir, "binaries", agentSHA256))
				return os.IsNotExist(err)
			})
		})
	})
}

func TestBadBinariesEndInError(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.StartConfig(t, runtimeConfig(url, t.TempDir()))
		for _, tc := range []struct {
			name, url, sha256, reason string
		}{
			{"unreachable", "http://127.0.0.1:1/agent", "", "connection refused"},
			{"missing", binaries.URL + "/missing", "", "404"},
			{"wrong-sha", binaries.URL + "/agent", strings.Repeat("0", 64), "sha256"},
			{"not-executable", binaries.URL + "/text", "", "executable"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				body := map[string]any{"name": tc.name, "runtime": "native", "binary_url": tc.url, "config": map[string]any{"replicas": 1}}
				if tc.sha256 != "" {
					body["binary_sha256"] = tc.sha256
				}
				res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, body)
				if res.Status != http.StatusCreated {
					t.Fatalf("create: %d %s", res.Status, res.Body)
				}
				agent := decodeAgent(t, res)
				waitStatus(t, s, agent.ID, "error")
				apitest.Eventually(t, 30*time.Second, "a log line that says why", func() bool {
					return strings.Contains(strings.ToLower(logMessages(t, s, agent.ID)), tc.reason)
				})
			})
		}
		if res := s.Do(http.MethodGet, "/readyz", "", nil); res.Status != http.StatusOK {
			t.Fatalf("server unhealthy after bad binaries: %d %s", res.Status, res.Body)
		}
		res := s.Do(http.MethodGet, "/v1/services/runtime/status", s.AdminToken, nil)
		if res.Status != http.StatusOK || !strings.Contains(string(res.Body), `"status":"healthy"`) && !strings.Contains(string(res.Body), `"status":"degraded"`) {
			t.Fatalf("runtime service: %d %s", res.Status, res.Body)
		}
	})
}

func TestWaitSeesPassingDeploying(t *testing.T) {
	s := apitest.StartConfig(t, runtimeConfig("", t.TempDir()))
	res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, map[string]any{
		"name": "quick", "runtime": "go", "binary_url": binaries.URL + "/agent", "config": map[string]any{"replicas": 1},
	})
	agent := decodeAgent(t, res)
	waitStatus(t, s, agent.ID, "running")
	if res := s.Do(http.MethodPost, "/v1/agents/"+agent.ID+"/stop", s.AdminToken, nil); res.Status != http.StatusOK {
		t.Fatalf("stop: %d %s", res.Status, res.Body)
	}
	waitStatus(t, s, agent.ID, "stopped")

	bus := s.App.Bus.(*events.InProcess)
	before := bus.Stats().Subscribers
	waited := make(chan *apitest.Response, 1)
	go func() {
		waited <- s.Do(http.MethodGet, "/v1/agents/"+agent.ID+"/wait?status=deploying&timeout=30s", s.AdminToken, nil)
	}()
	// The wait must be subscribed before the start; it answers once the
	// agent is deploying, however briefly.
	apitest.Eventually(t, 30*time.Second, "the wait to subscribe", func() bool { return bus.Stats().Subscribers > before })
	if res := s.Do(http.MethodPost, "/v1/agents/"+agent.ID+"/start", s.AdminToken, nil); res.Status != http.StatusOK {
		t.Fatalf("start: %d %s", res.Status, res.Body)
	}
	res = <-waited
	if res.Status != http.StatusOK || !strings.Contains(string(res.Body), `"status":"deploying"`) {
		t.Fatalf("wait for deploying: %d %s", res.Status, res.Body)
	}
}

// TestPrivateBinaryURLsRefused: by default a binary URL cannot make the
// server reach its own network, whatever name resolves there.
func TestPrivateBinaryURLsRefused(t *testing.T) {
	cfg := runtimeConfig("", t.TempDir())
	cfg.AllowPrivateBinaryURLs = false
	s := apitest.StartConfig(t, cfg)
	for name, url := range map[string]string{
		"loopback":  binaries.URL + "/agent",
		"localhost": strings.Replace(binaries.URL, "127.0.0.1", "localhost", 1) + "/agent",
		"metadata":  "http://169.254.169.254/latest/meta-data",
	} {
		t.Run(name, func(t *testing.T) {
			res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, map[string]any{"name": name, "runtime": "native", "binary_url": url})
			agent := decodeAgent(t, res)
			waitStatus(t, s, agent.ID, "error")
			apitest.Eventually(t, 30*time.Second, "a log line that says why", func() bool {
				return strings.Contains(logMessages(t, s, agent.ID), "is not public")
			})
		})
	}
}
