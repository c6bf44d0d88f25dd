package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
)

// server is `neuais serve` of the built binary, restartable on its port.
type server struct {
	t    *testing.T
	bin  string
	env  []string
	addr string
	cmd  *exec.Cmd
}

func (s *server) start() {
	s.t.Helper()
	cmd := exec.Command(s.bin, "serve")
	cmd.Env = append(s.env, "NEUAIS_ADDR="+s.addr)
	cmd.Stdout, cmd.Stderr = &syncBuffer{}, &syncBuffer{}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.cmd = cmd
	apitest.Eventually(s.t, 30*time.Second, "the server to answer", func() bool {
		res, err := http.Get("http://" + s.addr + "/readyz")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == 200
	})
}

// kill ends the server with SIGKILL, as a crash would.
func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
}

// stop ends the server as an operator would (SIGTERM), so that it stops
// its agents' replicas; SIGKILL after 30 s.
func (s *server) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		s.cmd.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
		<-done
	}
}

// result is one finished run of the built binary.
type result struct {
	out, err string
	code     int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.out, r.err)
}

func runBin(t *testing.T, bin string, env []string, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{out: out.String(), err: errb.String(), code: code}
}

func build(t *testing.T, dir, pkg, name string) string {
	t.Helper()
	bin := filepath.Join(dir, name)
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestClient runs the built binary's client commands against a real
// server (the built binary too) with the local runtime.
func TestClient(t *testing.T) {
	dir := t.TempDir()
	bin := build(t, dir, ".", "neuais")
	hello := build(t, dir, "../../examples/hello", "hello")
	home := filepath.Join(dir, "home")
	base := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config")}
	srv := &server{t: t, bin: bin, addr: freeAddr(t), env: append(base,
		"NEUAIS_DATA_DIR="+filepath.Join(dir, "data"), "NEUAIS_ADMIN_EMAIL=root@example.com", "NEUAIS_ADMIN_PASSWORD=root-password-1",
		"NEUAIS_BCRYPT_COST=4", "NEUAIS_LOG_LEVEL=error", "NEUAIS_RATE_LIMIT_MIN=100000", "NEUAIS_STOP_GRACE=2s")}
	srv.start()
	t.Cleanup(srv.stop)
	client := append(base, "NEUAIS_URL=http://"+srv.addr+"/v1")
	neuais := func(stdin string, args ...string) result { return runBin(t, bin, client, stdin, args...) }

	t.Run("Login", func(t *testing.T) {
		r := neuais("root-password-1\n", "login", "--email", "root@example.com", "--password-stdin")
		if r.code != 0 || !strings.Contains(r.out, "Logged in") {
			t.Fatal(r)
		}
		fi, err := os.Stat(filepath.Join(home, ".config", "neuais", "credentials.json"))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("token file: %v %v", fi.Mode(), err)
		}
		if r := neuais("wrong\n", "login", "--email", "root@example.com", "--password-stdin"); r.code != exitAPI || !strings.Contains(r.err, "unauthorized") {
			t.Fatal(r)
		}
	})
	t.Run("DeployToRunning", func(t *testing.T) {
		r := neuais("", "deploy", "hello", "--binary", hello, "--env", "GREETING=hi")
		if r.code != 0 || !strings.Contains(r.out, "Agent hello is running") || !strings.Contains(r.out, "http://hello.default.localhost:") {
			t.Fatal(r)
		}
		// Again: the same agent is updated, not created twice.
		if r := neuais("", "deploy", "hello", "--binary", hello, "--replicas", "2"); r.code != 0 || !strings.Contains(r.err, "Updated agent hello") {
			t.Fatal(r)
		}
		if r := neuais("", "agents", "get", "hello", "-o", "json"); r.code != 0 || !strings.Contains(r.out, `"replicas": 2`) {
			t.Fatal(r)
		}
	})
	t.Run("JSONLists", func(t *testing.T) {
		for _, args := range [][]string{{"agents", "list"}, {"binaries", "list"}, {"tokens", "list"}, {"users", "list"}, {"services"},
			{"logs", "hello"}, {"metrics", "hello"}} {
			r := neuais("", append(args, "-o", "json")...)
			if r.code != 0 || !json.Valid([]byte(r.out)) {
				t.Errorf("%v: %s", args, r)
			}
		}
		if r := neuais("", "agents", "list"); r.code != 0 || !strings.Contains(r.out, "NAME") || !strings.Contains(r.out, "hello") {
			t.Error(r)
		}
	})
	t.Run("LogsFollowAcrossRestart", func(t *testing.T) {
		cmd := exec.Command(bin, "logs", "hello", "-f", "-o", "json", "--tail", "10000")
		cmd.Env = client
		out, errb := &syncBuffer{}, &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { cmd.Process.Kill(); cmd.Wait() }()
		ids := func() []string {
			var got []string
			for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
				var l struct{ ID string }
				if json.Unmarshal([]byte(line), &l) == nil && l.ID != "" {
					got = append(got, l.ID)
				}
			}
			return got
		}
		apitest.Eventually(t, 30*time.Second, "the backlog", func() bool { return len(ids()) > 0 })
		before := len(ids())
		srv.kill()
		srv.start()
		// The restarted server starts the agent again, which logs anew.
		apitest.Eventually(t, 60*time.Second, "the lines after the restart, all of them", func() bool {
			r := neuais("", "logs", "hello", "--tail", "10000", "-o", "json")
			var page struct {
				Logs []struct{ Message string } `json:"logs"`
			}
			if r.code != 0 || json.Unmarshal([]byte(r.out), &page) != nil {
				return false
			}
			got := ids()
			return len(got) > before && len(got) == len(page.Logs)
		})
		got := ids()
		seen := map[string]bool{}
		for _, id := range got {
			if seen[id] {
				t.Fatalf("line %s printed twice:\n%s", id, out)
			}
			seen[id] = true
		}
		if !strings.Contains(errb.String(), "reconnecting") {
			t.Errorf("no reconnect reported: %s", errb)
		}
	})
	t.Run("BinariesAndTokens", func(t *testing.T) {
		r := neuais("", "tokens", "create", "ci", "--role", "viewer", "-o", "json")
		var tok struct{ ID, Token string }
		if r.code != 0 || json.Unmarshal([]byte(r.out), &tok) != nil || !strings.HasPrefix(tok.Token, "nat_") {
			t.Fatal(r)
		}
		viewer := append(append([]string{}, client...), "NEUAIS_TOKEN="+tok.Token)
		if r := runBin(t, bin, viewer, "", "agents", "list"); r.code != 0 {
			t.Fatal(r)
		}
		if r := runBin(t, bin, viewer, "", "agents", "stop", "hello"); r.code != exitAPI || !strings.Contains(r.err, "forbidden") {
			t.Fatal(r)
		}
		if r := neuais("", "tokens", "revoke", tok.ID); r.code != 0 {
			t.Fatal(r)
		}
		if r := runBin(t, bin, viewer, "", "agents", "list"); r.code != exitAPI || !strings.Contains(r.err, "unauthorized") {
			t.Fatal(r)
		}
		var page struct {
			Binaries []struct{ ID string } `json:"binaries"`
		}
		r = neuais("", "binaries", "list", "-o", "json")
		if json.Unmarshal([]byte(r.out), &page) != nil || len(page.Binaries) == 0 {
			t.Fatal(r)
		}
		if r := neuais("", "binaries", "delete", page.Binaries[0].ID); r.code != exitAPI || !strings.Contains(r.err, "conflict") {
			t.Fatal(r)
		}
	})
	t.Run("ErrExitCodes", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			code int
			says string
		}{
			{[]string{"agents", "get", "no-such-agent"}, exitAPI, `not_found: no agent named "no-such-agent"`},
			{[]string{"agents", "list", "--no-such-flag"}, exitUsage, "no-such-flag"},
			{[]string{"agents", "scale", "hello", "many"}, exitUsage, "REPLICAS must be a number"},
			{[]string{"nope"}, exitUsage, "unknown command"},
			{[]string{"deploy", "x"}, exitUsage, "--binary"},
			{[]string{"agents", "list", "--server", "http://127.0.0.1:1"}, exitConnection, "cannot reach the server"},
		} {
			if r := neuais("", tc.args...); r.code != tc.code || !strings.Contains(r.err, tc.says) {
				t.Errorf("%v: want exit %d saying %q, got %s", tc.args, tc.code, tc.says, r)
			}
		}
	})
	t.Run("Logout", func(t *testing.T) {
		if r := neuais("", "logout"); r.code != 0 || !strings.Contains(r.out, "revoked") {
			t.Fatal(r)
		}
		if _, err := os.Stat(filepath.Join(home, ".config", "neuais", "credentials.json")); !os.IsNotExist(err) {
			t.Fatalf("token file kept: %v", err)
		}
		if r := neuais("", "agents", "list"); r.code != exitAPI || !strings.Contains(r.err, "unauthorized") {
			t.Fatal(r)
		}
	})
}
