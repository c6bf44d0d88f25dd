// Package webhooks_test tests webhooks and the event log through whole
// servers: a receiver on the standardwebhooks npm package verifying a real
// agent's lifecycle, the REST API's inputs and roles, a server killed with
// SIGKILL while deliveries are pending, and the delivery benchmark.
package webhooks_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
)

var agentPath string

func TestMain(m *testing.M) {
	code := apitest.RunWithAgent(m, "../live/testdata/agent", &agentPath)
	apitest.RemoveServerBinary()
	os.Exit(code)
}

// waitFor bounds waits for work that is due; generous for loaded machines.
const waitFor = 2 * time.Minute

// live runs agents and lets deliveries reach the test's receivers on 127.0.0.1.
func live(c *config.Config) {
	c.RuntimeDriver = config.RuntimeLocal
	c.AllowFileURLs = true
	c.AllowPrivateWebhookURLs = true
}

// webhook is a webhook as POST /v1/webhooks returns it.
type webhook struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Secret string   `json:"secret"`
	Status string   `json:"status"`
}

func createWebhook(t *testing.T, s *apitest.Server, token string, body map[string]any) webhook {
	t.Helper()
	res := s.Do(http.MethodPost, "/v1/webhooks", token, body)
	if res.Status != http.StatusCreated {
		t.Fatalf("create webhook %v: %d %s", body, res.Status, res.Body)
	}
	var w webhook
	if err := json.Unmarshal(res.Body, &w); err != nil {
		t.Fatal(err)
	}
	return w
}

// received is one request the Node receiver got.
type received struct {
	Path     string `json:"path"`
	ID       string `json:"id"`
	Event    string `json:"event"`
	AgentID  string `json:"agent_id"`
	Verified bool   `json:"verified"`
	Error    string `json:"error"`
}

// nodeReceiver runs receiver.mjs.
type nodeReceiver struct {
	Port  int
	stdin io.WriteCloser
	mu    sync.Mutex
	got   []received
}

func startNodeReceiver(t *testing.T) *nodeReceiver {
	t.Helper()
	node, err := exec.LookPath("node")
	if _, statErr := os.Stat(filepath.Join("node_modules", "standardwebhooks")); err != nil || statErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs node and test/webhooks/node_modules: %v %v", err, statErr)
		}
		t.Skip("node or standardwebhooks missing: run `npm ci` in test/webhooks")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, node, "receiver.mjs")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	rc := &nodeReceiver{}
	if rc.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatalf("receiver did not start: %v", lines.Err())
	}
	var hello struct{ Port int }
	if err := json.Unmarshal(lines.Bytes(), &hello); err != nil || hello.Port == 0 {
		t.Fatalf("receiver said %s", lines.Bytes())
	}
	rc.Port = hello.Port
	go func() {
		for lines.Scan() {
			var r received
			if json.Unmarshal(lines.Bytes(), &r) == nil {
				rc.mu.Lock()
				rc.got = append(rc.got, r)
				rc.mu.Unlock()
			}
		}
	}()
	return rc
}

// configure tells the receiver each path's secret; raw secrets sign with their bytes.
func (rc *nodeReceiver) configure(t *testing.T, secrets map[string]map[string]any) {
	t.Helper()
	line, _ := json.Marshal(secrets)
	if _, err := rc.stdin.Write(append(line, '\n')); err != nil {
		t.Fatal(err)
	}
}

func (rc *nodeReceiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}
