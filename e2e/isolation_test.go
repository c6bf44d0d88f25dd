package e2e_test

import (
	"crypto/rand"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/db"
)

// countingListener accepts on addr and counts connections, so a refused
// dial proves the sandbox rather than an absent service.
func countingListener(t *testing.T, addr string) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().String(), &n
}

// hostAddress returns one of this host's addresses other than loopback.
func hostAddress(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
			return ipn.IP.String()
		}
	}
	t.Fatal("no non-loopback address on this host")
	return ""
}

// testHost starts an HTTP server in a network namespace of the test's own,
// joined to this host by a veth pair on 198.51.100.0/30 (a documentation
// range), and returns its URL: the outside world for a replica.
func testHost(t *testing.T) string {
	t.Helper()
	var b [3]byte
	rand.Read(b[:])
	tag := hex.EncodeToString(b[:])
	ns, hostIf, nsIf := "nhost-"+tag, "vh"+tag, "vn"+tag
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	run("ip", "netns", "add", ns)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	run("ip", "link", "add", hostIf, "type", "veth", "peer", "name", nsIf)
	t.Cleanup(func() { exec.Command("ip", "link", "del", hostIf).Run() })
	run("ip", "link", "set", nsIf, "netns", ns)
	run("ip", "addr", "add", "198.51.100.1/30", "dev", hostIf)
	run("ip", "link", "set", hostIf, "up")
	run("ip", "netns", "exec", ns, "ip", "addr", "add", "198.51.100.2/30", "dev", nsIf)
	run("ip", "netns", "exec", ns, "ip", "link", "set", nsIf, "up")
	run("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello from the test host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := exec.Command("ip", "netns", "exec", ns, "python3", "-m", "http.server", "8080", "--bind", "198.51.100.2", "--directory", dir)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Kill()
		srv.Wait()
	})
	url := "http://198.51.100.2:8080/"
	apitest.Eventually(t, 30*time.Second, "the test host to serve", func() bool {
		c := http.Client{Timeout: time.Second}
		res, err := c.Get(url)
		if err == nil {
			res.Body.Close()
		}
		return err == nil
	})
	return url
}

// processWithArg reports whether a process on the host has arg in its
// command line.
func processWithArg(arg string) bool {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline"); err == nil && strings.Contains(string(cmdline), arg) {
			return true
		}
	}
	return false
}

// TestHostileAgent: an agent of one tenant tries to reach the server, its
// data and another agent, and fails at each, while it still reaches the
// outside world and serves its endpoint.
func TestHostileAgent(t *testing.T) {
	hostile, cleanup, err := apitest.BuildAgent("./testdata/hostile")
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	// Built with cgo's resolver, it needs the host's dynamic loader and libc.
	if bin, err := elf.Open(hostile); err != nil || bin.Section(".interp") == nil {
		t.Fatalf("the hostile agent should be dynamically linked: %v", err)
	}
	dataDir := t.TempDir()
	cfg := runtimeConfig("sqlite:"+filepath.Join(t.TempDir(), "test.db"), dataDir)
	cfg.AllowFileURLs = true
	cfg.ReplicaMaxProcesses = 64
	s := apitest.StartConfig(t, cfg)
	outside := testHost(t)
	loopback, loopbackHits := countingListener(t, "127.0.0.1:0")
	other, otherHits := countingListener(t, net.JoinHostPort(hostAddress(t), "0"))
	for _, addr := range []string{loopback, other} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("the test's own listener %s: %v", addr, err)
		}
		conn.Close()
	}
	apitest.Eventually(t, 30*time.Second, "the test's own connections", func() bool { return loopbackHits.Load() == 1 && otherHits.Load() == 1 })
	loopbackHits.Store(0)
	otherHits.Store(0)

	create := func(name string, env map[string]string, memory string) string {
		t.Helper()
		res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, map[string]any{
			"name": name, "runtime": "go", "binary_url": "file://" + hostile,
			"config": map[string]any{"memory": memory}, "environment": env,
		})
		if res.Status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", name, res.Status, res.Body)
		}
		return decodeAgent(t, res).ID
	}
	victim := create("victim", map[string]string{"SECRET": "victim-secret-value"}, "128Mi")
	waitStatus(t, s, victim, "running")
	victimReplica := s.App.Runtime.Replicas(victim)[0]
	victimDir := filepath.Join(dataDir, "agents", victim, "replica-1")

	_, apiPort, _ := net.SplitHostPort(strings.TrimPrefix(s.URL, "http://"))
	env := map[string]string{
		"HOSTILE_READ": strings.Join([]string{
			dataDir, filepath.Join(dataDir, db.SQLiteFile), filepath.Join(dataDir, auth.SecretFile),
			filepath.Join(dataDir, "binaries"), victimDir,
			"/proc/" + strconv.Itoa(os.Getpid()) + "/environ", "/proc/" + strconv.Itoa(victimReplica.PID) + "/environ",
		}, ","),
		"HOSTILE_DIAL": strings.Join([]string{
			"127.0.0.1:5432", "127.0.0.1:4222", "127.0.0.1:6379", "127.0.0.1:" + apiPort,
			net.JoinHostPort(hostAddress(t), apiPort), loopback, other, "169.254.169.254:80",
			"127.0.0.1:" + strconv.Itoa(victimReplica.Port), "198.51.100.1:" + apiPort,
		}, ","),
		"HOSTILE_WRITE":  strings.Join([]string{"/app/agent", filepath.Join(dataDir, "binaries", "planted"), filepath.Join(victimDir, "planted")}, ","),
		"HOSTILE_SIGNAL": strings.Join([]string{strconv.Itoa(os.Getpid()), strconv.Itoa(victimReplica.PID)}, ","),
	}
	id := create("hostile", env, "128Mi")
	waitStatus(t, s, id, "running")
	get := func(path string) (int, string) {
		t.Helper()
		return throughHost(t, s, "hostile.default.localhost", path)
	}

	t.Run("EveryProbeRefused", func(t *testing.T) {
		status, body := get("/probes")
		var results map[string]string
		if err := json.Unmarshal([]byte(body), &results); status != http.StatusOK || err != nil || len(results) < 20 {
			t.Fatalf("%d %s", status, body)
		}
		for probe, outcome := range results {
			if !strings.HasPrefix(outcome, "refused") {
				t.Errorf("%s: %s", probe, outcome)
			}
		}
		if n := loopbackHits.Load() + otherHits.Load(); n != 0 {
			t.Errorf("the test's listeners saw %d connections from the agent", n)
		}
	})
	t.Run("NoInheritedDescriptors", func(t *testing.T) {
		if status, body := get("/fds"); status != http.StatusOK || strings.TrimSpace(body) != "null" {
			t.Fatalf("descriptors beyond 0-2 at start: %d %s", status, body)
		}
	})
	t.Run("OutsideWorldReachable", func(t *testing.T) {
		if status, body := get("/outbound?url=" + outside); status != http.StatusOK || !strings.Contains(body, "hello from the test host") {
			t.Fatalf("%d %s", status, body)
		}
	})
	t.Run("ForkBombStopped", func(t *testing.T) {
		status, body := get("/forkbomb")
		n, err := strconv.Atoi(body)
		if status != http.StatusOK || err != nil || n >= 64 {
			t.Fatalf("%d %s: started more processes than the limit of 64", status, body)
		}
		if res := s.Do(http.MethodGet, "/v1/services/api/status", s.AdminToken, nil); res.Status != http.StatusOK {
			t.Fatalf("server unhealthy: %d %s", res.Status, res.Body)
		}
	})
	t.Run("ServicesSaySandboxed", func(t *testing.T) {
		res := s.GraphQL(s.AdminToken, `{ service(name: "runtime") { status detail } }`, nil)
		if len(res.Errors) > 0 || !strings.Contains(string(res.Data), "sandboxed by runc") || !strings.Contains(string(res.Data), `"healthy"`) {
			t.Fatalf("%s %+v", res.Data, res.Errors)
		}
	})
	t.Run("EscapeeDiesWithStop", func(t *testing.T) {
		marker := "escapee-" + strconv.FormatInt(time.Now().UnixNano(), 36)
		if status, body := get("/escape?marker=" + marker); status != http.StatusOK {
			t.Fatalf("%d %s", status, body)
		}
		apitest.Eventually(t, 30*time.Second, "the escapee to run", func() bool { return processWithArg(marker) })
		if res := s.Do(http.MethodPost, "/v1/agents/"+id+"/stop", s.AdminToken, nil); res.Status != http.StatusOK {
			t.Fatalf("stop: %d %s", res.Status, res.Body)
		}
		waitStatus(t, s, id, "stopped")
		apitest.Eventually(t, 30*time.Second, "the escapee to die with its replica", func() bool { return !processWithArg(marker) })
	})
	t.Run("OutOfMemoryKilledAndReported", func(t *testing.T) {
		hog := create("hog", map[string]string{"HOSTILE_MODE": "alloc"}, "64Mi")
		apitest.Eventually(t, 30*time.Second, "the out-of-memory kill in the log", func() bool {
			return strings.Contains(logMessages(t, s, hog), "Replica 1 was killed: out of memory")
		})
		waitStatus(t, s, hog, "error") // it keeps being killed: a crash loop
	})
}
