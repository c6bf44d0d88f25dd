// Package billing_test meters a real agent across a SIGKILL of the built
// server: the interval left open closes at the last heartbeat, and a
// graceful stop records the replicas' ends.
package billing_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/db"
)

var agentPath, serverBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "neuais-server-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	serverBin = filepath.Join(dir, "neuais")
	if out, err := exec.Command("go", "build", "-o", serverBin, "../../cmd/neuais").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build neuais: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := apitest.RunWithAgent(m, "../../internal/runtime/testdata/agent", &agentPath)
	os.RemoveAll(dir)
	os.Exit(code)
}

// waitFor bounds waits for work that is due; generous for loaded machines.
const waitFor = time.Minute

var listening = regexp.MustCompile(`listening on (\S+)`)

type server struct {
	cmd   *exec.Cmd
	base  string
	token string
}

// start runs the built server with env until the test ends, when it is
// stopped with SIGTERM so that its replicas stop too.
func start(t *testing.T, env []string) *server {
	t.Helper()
	cmd := exec.Command(serverBin, "serve")
	cmd.Env = env
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd}
	t.Cleanup(func() { s.stop(t) })
	found := make(chan string, 1)
	go func() {
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			if m := listening.FindStringSubmatch(lines.Text()); m != nil {
				found <- m[1]
				break
			}
		}
		io.Copy(io.Discard, stdout) //nolint:errcheck // keeps the pipe drained
	}()
	select {
	case addr := <-found:
		s.base = "http://" + addr
	case <-time.After(waitFor):
		t.Fatal("server did not start")
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if status, body := s.do(t, http.MethodPost, "/v1/auth/token", map[string]string{"email": apitest.AdminEmail, "password": apitest.AdminPassword}); status != http.StatusOK || json.Unmarshal(body, &tok) != nil {
		t.Fatalf("login: %d %s", status, body)
	}
	s.token = tok.AccessToken
	return s
}

func (s *server) do(t *testing.T, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, data
}

// kill ends the server with SIGKILL: no shutdown code runs, its replicas
// are left running for the next server to clean up.
func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL) //nolint:errcheck // it may have ended
	s.cmd.Wait()                          //nolint:errcheck // killed
}

// stop ends the server with SIGTERM, as an operator's restart does.
func (s *server) stop(t *testing.T) {
	if s.cmd.ProcessState != nil {
		return
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Wait(); err != nil {
		t.Errorf("server ended with %v", err)
	}
}

type intervalRow struct {
	Instance   string     `bun:"instance"`
	StartedAt  time.Time  `bun:"started_at"`
	LastSeenAt time.Time  `bun:"last_seen_at"`
	EndedAt    *time.Time `bun:"ended_at"`
}

func intervals(t *testing.T, d *bun.DB, agentID string) []intervalRow {
	t.Helper()
	var rows []intervalRow
	if err := d.NewSelect().Table("replica_intervals").Column("instance", "started_at", "last_seen_at", "ended_at").
		Where("agent_id = ?", agentID).Order("id").Scan(context.Background(), &rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestKillClosesAtLastHeartbeat(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		dataDir := t.TempDir()
		env := []string{
			"PATH=" + os.Getenv("PATH"),
			"NEUAIS_ADDR=127.0.0.1:0",
			"NEUAIS_DATA_DIR=" + dataDir,
			"NEUAIS_DATABASE_URL=" + url,
			"NEUAIS_ADMIN_EMAIL=" + apitest.AdminEmail,
			"NEUAIS_ADMIN_PASSWORD=" + apitest.AdminPassword,
			"NEUAIS_BCRYPT_COST=4",
			"NEUAIS_LOG_LEVEL=error",
			"NEUAIS_RUNTIME_DRIVER=local",
			"NEUAIS_ALLOW_FILE_URLS=true",
			"NEUAIS_RATE_LIMIT_MIN=1000000",
			"NEUAIS_BILLING_HEARTBEAT=1s",
			"NEUAIS_STOP_GRACE=2s",
		}
		d, err := db.Open(context.Background(), apitest.DBOptions(t, url))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })

		first := start(t, env)
		status, body := first.do(t, http.MethodPost, "/v1/agents", map[string]any{"name": "web", "runtime": "go", "binary_url": "file://" + agentPath})
		var agent struct{ ID string }
		if status != http.StatusCreated || json.Unmarshal(body, &agent) != nil {
			t.Fatalf("create: %d %s", status, body)
		}
		if status, body := first.do(t, http.MethodGet, "/v1/agents/"+agent.ID+"/wait?status=running&timeout=60s", nil); status != http.StatusOK {
			t.Fatalf("wait: %d %s", status, body)
		}
		var ivs []intervalRow
		apitest.Eventually(t, waitFor, "a heartbeat after the replica's start", func() bool {
			ivs = intervals(t, d, agent.ID)
			return len(ivs) == 1 && ivs[0].LastSeenAt.After(ivs[0].StartedAt)
		}, func() string { return fmt.Sprintf("intervals %+v", ivs) })

		first.kill()
		ivs = intervals(t, d, agent.ID)
		if len(ivs) != 1 || ivs[0].EndedAt != nil {
			t.Fatalf("intervals after the kill %+v, want one open", ivs)
		}
		lastSeen := ivs[0].LastSeenAt

		second := start(t, env)
		apitest.Eventually(t, waitFor, "the restarted replica's interval", func() bool {
			ivs = intervals(t, d, agent.ID)
			return len(ivs) == 2
		}, func() string { return fmt.Sprintf("intervals %+v", ivs) })
		if ivs[0].EndedAt == nil || !ivs[0].EndedAt.Equal(lastSeen) {
			t.Fatalf("killed server's interval %+v, want it closed at its last heartbeat %s", ivs[0], lastSeen)
		}
		if ivs[1].Instance == ivs[0].Instance || !ivs[1].StartedAt.After(lastSeen) {
			t.Fatalf("restarted replica's interval %+v overlaps %+v", ivs[1], ivs[0])
		}

		// A graceful stop writes the replica's end as the runtime logged it.
		second.stop(t)
		ivs = intervals(t, d, agent.ID)
		var stopped time.Time
		if err := d.NewSelect().Table("agent_logs").Column("timestamp").Where("agent_id = ?", agent.ID).
			Where("replica = 0").Where("message = ?", "Replica 1 stopped").Scan(context.Background(), &stopped); err != nil {
			t.Fatalf("stopped line: %v", err)
		}
		if len(ivs) != 2 || ivs[1].EndedAt == nil || !ivs[1].EndedAt.Equal(stopped) {
			t.Fatalf("intervals after a graceful stop %+v, want the second to end at %s", ivs, stopped)
		}
	})
}
