package runtime_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/models"
)

func TestLifecycle(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *bun.DB) {
		e := newTestEnv(t, d)
		m := e.start()
		a := e.createAgent(m, "echo", binaries.URL+"/agent", 3, map[string]string{"GREETING": "hi"})

		e.waitStatus(a.ID, models.AgentRunning)
		ev := e.waitEvent(a.ID, events.AgentStarted)
		if ev.Data.Name != "echo" || ev.Data.Status != "running" || ev.Data.OrgID != e.orgID {
			t.Errorf("started event = %+v", ev)
		}
		reps := waitReplicasUp(t, m, a.ID, 3)
		if got := e.agent(a.ID); got.Generation != 1 || got.Version != 1 {
			t.Errorf("runtime changed generation or version: %d, %d", got.Generation, got.Version)
		}

		t.Run("logs", func(t *testing.T) {
			want := map[string]string{
				"json debug from replica": models.LevelDebug,
				"json warn":               models.LevelWarn,
				"INFO plain info":         models.LevelInfo,
				"[warning] bracketed":     models.LevelWarn,
				"no level on stdout":      models.LevelInfo,
				"ERROR: plain error":      models.LevelError,
				"debug: plain debug":      models.LevelDebug,
				"no level on stderr":      models.LevelError,
				"env GREETING=hi":         models.LevelInfo,
			}
			for msg, level := range want {
				line := e.waitLog(a.ID, msg)
				if line.Level != level || line.Replica < 1 || line.OrgID != e.orgID {
					t.Errorf("line %q: level %s replica %d org %s", line.Message, line.Level, line.Replica, line.OrgID)
				}
			}
			if line := e.waitLog(a.ID, "Agent started"); line.Replica != 0 || line.Level != models.LevelInfo {
				t.Errorf("platform line = %+v", line)
			}
		})

		t.Run("proxy", func(t *testing.T) {
			proxy := m.Proxy(endpoints, http.NotFoundHandler())
			host := "echo." + e.orgSlug + ".localhost"
			seen := map[string]bool{}
			for range 6 {
				code, body := proxyGet(proxy, host+":8000", "/")
				if code != http.StatusOK {
					t.Fatalf("GET / = %d %s", code, body)
				}
				seen[body] = true
			}
			if len(seen) != 3 {
				t.Errorf("round robin reached %v, want 3 replicas", seen)
			}
			if code, body := proxyGet(proxy, "nobody."+e.orgSlug+".localhost", "/"); code != http.StatusNotFound || !strings.Contains(body, "not_found") {
				t.Errorf("unknown agent = %d %s", code, body)
			}
			if code, _ := proxyGet(proxy, "api.example.com", "/"); code != http.StatusNotFound {
				t.Errorf("other host = %d, want next handler's 404", code)
			}
			if code, body := proxyGet(proxy, host, "/burn?ms=300"); code != http.StatusOK {
				t.Fatalf("burn = %d %s", code, body)
			}
			cpu, mem, network := m.Usage(a.ID)
			if cpu <= 0 || mem <= 0 || network <= 0 {
				t.Errorf("usage = cpu %.2f%%, memory %.2f MiB, network %d bytes", cpu, mem, network)
			}

			// A replica that just died is skipped, before and after the
			// runtime notices.
			if err := syscall.Kill(reps[1].PID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			for range 6 {
				if code, body := proxyGet(proxy, host, "/"); code != http.StatusOK {
					t.Fatalf("GET / with a dead replica = %d %s", code, body)
				}
			}
			apitest.Eventually(t, 20*time.Second, "the runtime", func() bool {
				now := m.Replicas(a.ID)
				return len(now) == 3 && now[1].Up && now[1].PID != reps[1].PID
			}, func() string { return "killed replica did not come back" })
			reps = waitReplicasUp(t, m, a.ID, 3)
			if got := e.agent(a.ID).Status; got != models.AgentRunning {
				t.Errorf("status after one crash = %s", got)
			}
		})

		t.Run("environment update rolls replicas", func(t *testing.T) {
			e.update(m, a.ID, func(a *models.Agent) { a.Environment = map[string]string{"GREETING": "hello"} })
			apitest.Eventually(t, 20*e.cfg.ReadyAfter, "the runtime", func() bool {
				now := m.Replicas(a.ID)
				if len(now) != 3 {
					return false
				}
				for i, r := range now {
					if r.PID == reps[i].PID || !r.Up || r.Generation != 2 {
						return false
					}
				}
				return true
			}, func() string { return "replicas were not all replaced" })
			waitAllDead(t, pidsOf(reps))
			e.waitLog(a.ID, "env GREETING=hello")
			reps = waitReplicasUp(t, m, a.ID, 3)
		})

		t.Run("restart", func(t *testing.T) {
			e.update(m, a.ID, func(*models.Agent) {}) // a new generation alone is a restart
			apitest.Eventually(t, 20*e.cfg.ReadyAfter, "the runtime", func() bool {
				now := m.Replicas(a.ID)
				return len(now) == 3 && now[0].PID != reps[0].PID && now[2].PID != reps[2].PID && now[2].Up
			}, func() string { return "replicas were not restarted" })
			waitAllDead(t, pidsOf(reps))
			reps = waitReplicasUp(t, m, a.ID, 3)
		})

		t.Run("scale 3 to 1", func(t *testing.T) {
			e.update(m, a.ID, func(a *models.Agent) { a.Replicas = 1 })
			waitAllDead(t, pidsOf(reps[1:]))
			now := waitReplicasUp(t, m, a.ID, 1)
			if now[0].Index != 1 || now[0].PID != reps[0].PID {
				t.Errorf("replica left = %+v, want replica 1 untouched (pid %d)", now[0], reps[0].PID)
			}
			if got := e.agent(a.ID).Status; got != models.AgentRunning {
				t.Errorf("status after scale = %s", got)
			}
			reps = now
		})

		t.Run("stop", func(t *testing.T) {
			e.update(m, a.ID, func(a *models.Agent) { a.Desired = models.DesiredStopped })
			e.waitStatus(a.ID, models.AgentStopped)
			e.waitEvent(a.ID, events.AgentStopped)
			waitAllDead(t, pidsOf(reps))
			if left := m.Replicas(a.ID); len(left) != 0 {
				t.Errorf("replicas after stop = %+v", left)
			}
			e.waitLog(a.ID, "Replica 1 stopped")
			if cpu, mem, network := m.Usage(a.ID); cpu != 0 || mem != 0 || network != 0 {
				t.Errorf("usage of a stopped agent = %.2f, %.2f, %d", cpu, mem, network)
			}
			code, body := proxyGet(m.Proxy(endpoints, nil), "echo."+e.orgSlug+".localhost", "/")
			var env struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if code != http.StatusServiceUnavailable || json.Unmarshal([]byte(body), &env) != nil || env.Error.Code != "service_unavailable" {
				t.Errorf("proxy to stopped agent = %d %s", code, body)
			}
		})

		t.Run("health", func(t *testing.T) {
			status, detail := m.HealthCheck()(context.Background())
			if status != health.Healthy || !strings.Contains(detail, "limits") {
				t.Errorf("health = %s %q", status, detail)
			}
		})
	})
}

func proxyGet(h http.Handler, host, path string) (int, string) {
	r := httptest.NewRequest(http.MethodGet, "http://"+host+path, nil)
	r.Host = host
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	body, _ := io.ReadAll(w.Result().Body)
	return w.Code, string(body)
}

func TestCrashLoop(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *bun.DB) {
		e := newTestEnv(t, d)
		m := e.start()
		a := e.createAgent(m, "crashy", binaries.URL+"/agent", 2, map[string]string{"CRASH_AFTER_MS": "100"})

		got := e.waitStatus(a.ID, models.AgentError)
		if !strings.Contains(got.StatusReason, "exited with status 1") {
			t.Errorf("reason = %q", got.StatusReason)
		}
		ev := e.waitEvent(a.ID, events.AgentError)
		if ev.Data.Status != "error" || ev.Data.Reason == "" {
			t.Errorf("error event = %+v", ev)
		}
		if line := e.waitLog(a.ID, "exited with status 1"); line.Replica != 0 || line.Level != models.LevelError {
			t.Errorf("exit line = %+v", line)
		}

		e.update(m, a.ID, func(a *models.Agent) { a.Environment = map[string]string{} })
		e.waitStatus(a.ID, models.AgentRunning)
		e.waitEvent(a.ID, events.AgentStarted)
		reps := waitReplicasUp(t, m, a.ID, 2)
		if got := e.agent(a.ID); got.StatusReason != "" {
			t.Errorf("reason after recovery = %q", got.StatusReason)
		}
		// Stable: the replicas that recovered stay the same processes.
		for _, r := range reps {
			if !alive(r.PID) {
				t.Errorf("replica %d died after recovery", r.Index)
			}
		}
	})
}

func TestServerRestart(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *bun.DB) {
		e := newTestEnv(t, d)
		first := e.start()
		a := e.createAgent(first, "durable", binaries.URL+"/agent", 2, nil)
		e.waitStatus(a.ID, models.AgentRunning)
		before := pidsOf(waitReplicasUp(t, first, a.ID, 2))

		t.Run("shutdown and start", func(t *testing.T) {
			if err := first.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			waitAllDead(t, before)
			second := e.start()
			after := pidsOf(waitReplicasUp(t, second, a.ID, 2))
			if slices.ContainsFunc(after, func(pid int) bool { return slices.Contains(before, pid) }) {
				t.Errorf("pids after restart %v reuse %v", after, before)
			}
			before = after

			t.Run("crash and start", func(t *testing.T) {
				second.Abandon()
				for _, pid := range before {
					if !alive(pid) {
						t.Fatalf("abandoned replica %d died", pid)
					}
				}
				third := e.start()
				waitAllDead(t, before)
				waitReplicasUp(t, third, a.ID, 2)
				if got := e.agent(a.ID).Status; got != models.AgentRunning {
					t.Errorf("status = %s", got)
				}
			})
		})
	})
}

func TestDelete(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *bun.DB) {
		e := newTestEnv(t, d)
		m := e.start()
		one := e.createAgent(m, "one", binaries.URL+"/agent", 1, nil)
		two := e.createAgent(m, "two", binaries.URL+"/agent?copy", 1, nil)
		e.waitStatus(one.ID, models.AgentRunning)
		e.waitStatus(two.ID, models.AgentRunning)
		cached := filepath.Join(e.cfg.DataDir, "binaries", agentSHA256)
		if _, err := os.Stat(cached); err != nil {
			t.Fatalf("cached binary: %v", err)
		}

		pids := pidsOf(waitReplicasUp(t, m, one.ID, 1))
		deleteAgent(t, e, m, one.ID)
		waitAllDead(t, pids)
		apitest.Eventually(t, e.cfg.StopGrace*3, "the runtime", func() bool { return len(m.Replicas(one.ID)) == 0 }, func() string { return "replicas left" })
		if _, err := os.Stat(cached); err != nil {
			t.Errorf("binary still used by another agent was removed: %v", err)
		}

		// The last agent using the binary is deleted while the server is down.
		pids = pidsOf(waitReplicasUp(t, m, two.ID, 1))
		if err := m.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitAllDead(t, pids)
		if _, err := e.db.NewDelete().Model((*models.Agent)(nil)).Where("id = ?", two.ID).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		e.start()
		workDir := filepath.Join(e.cfg.DataDir, "agents", two.ID)
		apitest.Eventually(t, e.cfg.StopGrace*3, "the runtime", func() bool {
			_, errBinary := os.Stat(cached)
			_, errDir := os.Stat(workDir)
			return os.IsNotExist(errBinary) && os.IsNotExist(errDir)
		}, func() string {
			return "cached binary or working directory left after the last agent using it was deleted"
		})
	})
}

func deleteAgent(t *testing.T, e *testEnv, m interface{ Reconcile(string) }, id string) {
	t.Helper()
	if _, err := e.db.NewDelete().Model((*models.Agent)(nil)).Where("id = ?", id).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	m.Reconcile(id)
}

func TestFetchFailures(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *bun.DB) {
		e := newTestEnv(t, d)
		m := e.start()
		tests := []struct {
			name, url, sha, reason string
		}{
			{"bad-url", "ftp://example.com/agent", "", "unsupported binary URL scheme"},
			{"malformed-url", "http://[::1", "", "invalid binary URL"},
			{"unreachable", "http://127.0.0.1:1/agent", "", "download"},
			{"not-found", binaries.URL + "/missing", "", "HTTP 404"},
			{"wrong-sha", binaries.URL + "/agent", strings.Repeat("0", 64), "sha256 mismatch"},
			{"not-executable", binaries.URL + "/text", "", "not an executable"},
			{"file-url", "file:///bin/true", "", "file:// binary URLs are not allowed"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				a := e.createAgent(m, tt.name, tt.url, 1, nil, func(a *models.Agent) { a.BinarySHA256 = tt.sha })
				got := e.waitStatus(a.ID, models.AgentError)
				if !strings.Contains(got.StatusReason, tt.reason) {
					t.Errorf("reason = %q, want it to contain %q", got.StatusReason, tt.reason)
				}
				line := e.waitLog(a.ID, "Fetching binary failed: ")
				if !strings.Contains(line.Message, tt.reason) || line.Level != models.LevelError || line.Replica != 0 {
					t.Errorf("log line = %+v", line)
				}
				if ev := e.waitEvent(a.ID, events.AgentError); !strings.Contains(ev.Data.Reason, tt.reason) {
					t.Errorf("event reason = %q", ev.Data.Reason)
				}
				if reps := m.Replicas(a.ID); len(reps) != 0 {
					t.Errorf("replicas = %+v", reps)
				}
			})
		}
		if status, _ := m.HealthCheck()(context.Background()); status != health.Healthy {
			t.Errorf("runtime health after failed fetches = %s", status)
		}
	})
}

func TestFetchSizeCap(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *bun.DB) {
		e := newTestEnv(t, d)
		e.cfg.MaxBinaryBytes = 1 << 10
		m := e.start()
		a := e.createAgent(m, "big", binaries.URL+"/agent", 1, nil)
		got := e.waitStatus(a.ID, models.AgentError)
		if !strings.Contains(got.StatusReason, "larger than the limit of 1024 bytes") {
			t.Errorf("reason = %q", got.StatusReason)
		}
		entries, err := os.ReadDir(filepath.Join(e.cfg.DataDir, "binaries"))
		if err != nil {
			t.Fatal(err)
		}
		for _, entry := range entries {
			if !entry.IsDir() {
				t.Errorf("cache keeps %s after a refused download", entry.Name())
			}
		}
	})
}

func TestCrashLoopCalmsDown(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *bun.DB) {
		e := newTestEnv(t, d)
		e.cfg.CrashLoopWindow = 2 * time.Second
		m := e.start()
		// Each replica crashes on its first two runs only.
		a := e.createAgent(m, "flaky", binaries.URL+"/agent", 2, map[string]string{"CRASH_AFTER_MS": "50", "CRASH_TIMES": "2"})
		e.waitStatus(a.ID, models.AgentError)
		e.waitEvent(a.ID, events.AgentError)
		e.waitStatus(a.ID, models.AgentRunning)
		e.waitEvent(a.ID, events.AgentStarted)
		waitReplicasUp(t, m, a.ID, 2)
	})
}

func TestFileURLWithChecksum(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *bun.DB) {
		e := newTestEnv(t, d)
		e.cfg.AllowFileURLs = true
		m := e.start()
		a := e.createAgent(m, "local", "file://"+agentPath, 1, nil,
			func(a *models.Agent) { a.BinarySHA256 = strings.ToUpper(agentSHA256) })
		e.waitStatus(a.ID, models.AgentRunning)
		waitReplicasUp(t, m, a.ID, 1)
	})
}
