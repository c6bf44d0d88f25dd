package e2e_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
)

// failoverLease is the instances' NEUAIS_LEADER_LEASE in TestFailover.
const failoverLease = 3 * time.Second

// serveProcess is one `neuais serve` process of TestFailover.
type serveProcess struct {
	url string
	cmd *exec.Cmd
	out *bytes.Buffer
}

// startServe starts bin serve with env plus its own listen address and
// instance id, and waits until /readyz answers 200.
func startServe(t *testing.T, bin, id string, env []string) *serveProcess {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &serveProcess{url: "http://" + addr, out: &bytes.Buffer{}}
	p.cmd = exec.Command(bin, "serve")
	p.cmd.Env = append(os.Environ(), append(env, "NEUAIS_ADDR="+addr, "NEUAIS_INSTANCE_ID="+id)...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // may be dead already
		p.cmd.Wait()                          //nolint:errcheck // killed on purpose
		if t.Failed() {
			t.Logf("%s output:\n%s", id, p.out)
		}
	})
	apitest.Eventually(t, time.Minute, id+" ready", func() bool {
		res, err := http.Get(p.url + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	return p
}

// call sends a JSON request and decodes the JSON answer into out (when set).
func (p *serveProcess) call(t *testing.T, method, path, token string, body any, out any) int {
	t.Helper()
	var r io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		r = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, p.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if out != nil && json.Unmarshal(data, out) != nil {
		t.Fatalf("%s %s: %d %s", method, path, res.StatusCode, data)
	}
	return res.StatusCode
}

// endpoint sends GET / to the agent name's endpoint through p.
func (p *serveProcess) endpoint(name string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, p.url+"/", nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = name + ".default.localhost"
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body), nil
}

// TestFailover runs two `neuais serve` processes on one PostgreSQL, NATS
// and data directory with the local driver, deploys agents through the
// instance that does not lead, and SIGKILLs the leader: within the lease
// and 5 s the survivor runs them again (the dead leader's replicas killed)
// and their endpoints answer through it; every write the leader
// acknowledged is there.
func TestFailover(t *testing.T) {
	dbURL := apitest.PostgresURL(t)
	natsURL := "nats://127.0.0.1:4222"
	if conn, err := net.DialTimeout("tcp", "127.0.0.1:4222", time.Second); err != nil {
		t.Skipf("no NATS server at %s: %v", natsURL, err)
	} else {
		conn.Close()
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "neuais")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/neuais").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	env := []string{
		"NEUAIS_DATABASE_URL=" + dbURL, "NEUAIS_DATA_DIR=" + filepath.Join(dir, "data"),
		"NEUAIS_BUS_URL=" + natsURL, "NEUAIS_LEADER_LEASE=" + failoverLease.String(),
		"NEUAIS_ADMIN_EMAIL=" + apitest.AdminEmail, "NEUAIS_ADMIN_PASSWORD=" + apitest.AdminPassword,
		"NEUAIS_BCRYPT_COST=4", "NEUAIS_ALLOW_PRIVATE_BINARY_URLS=true",
		"NEUAIS_ENDPOINT_TEMPLATE=http://{name}.{org}.localhost:8000",
		"NEUAIS_RATE_LIMIT_MIN=1000000", "NEUAIS_LOGIN_MAX_FAILURES=1000000",
		"NEUAIS_ALLOW_PRIVATE_WEBHOOK_URLS=true", "NEUAIS_METRICS_INTERVAL=1s", "NEUAIS_WEBHOOK_RETRY_SCHEDULE=" + strings.TrimSuffix(strings.Repeat("1s,", 30), ","),
	}
	if os.Geteuid() != 0 {
		env = append(env, "NEUAIS_RUNTIME_ISOLATION=off")
	}
	leader := startServe(t, bin, "leader", env)
	survivor := startServe(t, bin, "survivor", env)

	var login struct {
		Token string `json:"access_token"`
	}
	if st := survivor.call(t, http.MethodPost, "/v1/auth/token", "", map[string]string{"email": apitest.AdminEmail, "password": apitest.AdminPassword}, &login); st != http.StatusOK {
		t.Fatalf("login: %d", st)
	}
	tok := login.Token
	// Every event reaches the receiver at least once under its own
	// webhook-id, also those the leader had not delivered when it died.
	var (
		receivedMu sync.Mutex
		received   = map[string]int{}
	)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		receivedMu.Lock()
		received[r.Header.Get("webhook-id")]++
		receivedMu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	var hook json.RawMessage
	if st := survivor.call(t, http.MethodPost, "/v1/webhooks", tok, map[string]any{"url": receiver.URL + "/hook", "events": []string{"*"}}, &hook); st != http.StatusCreated {
		t.Fatalf("create webhook: %d %s", st, hook)
	}

	names := []string{"alpha", "beta"}
	ids := map[string]string{}
	for _, name := range names {
		var a agentJSON
		st := survivor.call(t, http.MethodPost, "/v1/agents", tok, map[string]any{
			"name": name, "runtime": "go", "binary_url": binaries.URL + "/agent", "binary_sha256": agentSHA256,
			"config": map[string]any{"replicas": 1},
		}, &a)
		if st != http.StatusCreated {
			t.Fatalf("create %s: %d", name, st)
		}
		ids[name] = a.ID
	}
	for _, name := range names {
		// Deployed by the leader, told over the bus by the survivor.
		var a agentJSON
		if st := survivor.call(t, http.MethodGet, "/v1/agents/"+ids[name]+"/wait?status=running&timeout=60s", tok, nil, &a); st != http.StatusOK || a.Status != "running" {
			t.Fatalf("wait %s running: %d %+v", name, st, a)
		}
		apitest.Eventually(t, 30*time.Second, name+" answers through the instance that does not lead", func() bool {
			st, body, err := survivor.endpoint(name)
			return err == nil && st == http.StatusOK && body == "replica 1"
		})
	}
	// The bytes the instance that does not lead carried to alpha count in
	// the leader's metering of it.
	apitest.Eventually(t, 30*time.Second, "alpha's endpoint bytes through the other instance in the leader's samples", func() bool {
		var m struct {
			Metrics struct {
				Network []struct{ Value float64 }
			}
		}
		if leader.call(t, http.MethodGet, "/v1/agents/"+ids["alpha"]+"/metrics?period=1h&metric=network", tok, nil, &m) != http.StatusOK {
			return false
		}
		for _, p := range m.Metrics.Network {
			if p.Value > 0 {
				return true
			}
		}
		return false
	})
	// Writes the leader acknowledged just before it dies.
	var tokens []string
	for i := range 10 {
		var created struct {
			ID string `json:"id"`
		}
		if st := leader.call(t, http.MethodPost, "/v1/tokens", tok, map[string]any{"name": fmt.Sprintf("before-kill-%d", i), "role": "viewer"}, &created); st != http.StatusCreated {
			t.Fatalf("create token %d on the leader: %d", i, st)
		}
		tokens = append(tokens, created.ID)
	}
	// A follower of alpha's logs on the leader, to resume on the survivor.
	firstIDs := followLogs(t, leader.url+"/v1/agents/"+ids["alpha"]+"/logs?follow=true&tail=1", tok, 0, 1)
	oldPIDs := replicaPIDs(t, filepath.Join(dir, "data"))
	if len(oldPIDs) == 0 {
		t.Fatal("no replica process groups recorded by the leader")
	}

	if err := leader.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	leader.cmd.Wait() //nolint:errcheck // killed
	// The dead leader's replicas still answer at the recorded addresses
	// until the survivor, leading, kills them and starts its own.
	apitest.Eventually(t, failoverLease+5*time.Second, "the survivor runs the agents", func() bool {
		for _, pgid := range oldPIDs {
			if syscall.Kill(-pgid, 0) == nil {
				return false
			}
		}
		for _, name := range names {
			var a agentJSON
			st, body, err := survivor.endpoint(name)
			if err != nil || st != http.StatusOK || body != "replica 1" ||
				survivor.call(t, http.MethodGet, "/v1/agents/"+ids[name], tok, nil, &a) != http.StatusOK || a.Status != "running" {
				return false
			}
		}
		return true
	})
	// Resumed on the survivor, it goes on after the last line seen (the
	// restarted replica writes more).
	resumed := followLogs(t, survivor.url+"/v1/agents/"+ids["alpha"]+"/logs?follow=true", tok, firstIDs[len(firstIDs)-1], 1)
	last := firstIDs[len(firstIDs)-1]
	if resumed[0] <= last {
		t.Errorf("resumed at id %d after %d: a line repeated", resumed[0], last)
	}
	// No gap: the first line resumed is the first line stored after the last seen.
	var page struct {
		Data struct {
			AgentLogs struct{ Logs []struct{ ID string } }
		}
	}
	query := map[string]any{"query": `query($id: ID!) { agentLogs(id: $id, tail: 1000) { logs { id } } }`, "variables": map[string]any{"id": ids["alpha"]}}
	if st := survivor.call(t, http.MethodPost, "/graphql", tok, query, &page); st != http.StatusOK {
		t.Fatalf("logs on the survivor: %d", st)
	}
	next := int64(0)
	for _, l := range page.Data.AgentLogs.Logs {
		id, err := strconv.ParseInt(l.ID, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if id > last && (next == 0 || id < next) {
			next = id
		}
	}
	if next != resumed[0] {
		t.Errorf("resumed at id %d after %d, but the first line stored after it is %d: a gap", resumed[0], last, next)
	}
	if groups := replicaPIDs(t, filepath.Join(dir, "data")); len(groups) != len(oldPIDs) {
		t.Errorf("the survivor runs %d process groups, the leader ran %d", len(groups), len(oldPIDs))
	}
	var listed json.RawMessage
	if st := survivor.call(t, http.MethodGet, "/v1/tokens?limit=100", tok, nil, &listed); st != http.StatusOK {
		t.Fatalf("list tokens on the survivor: %d %s", st, listed)
	}
	for _, id := range tokens {
		if !strings.Contains(string(listed), `"`+id+`"`) {
			t.Errorf("token %s acknowledged by the leader is missing on the survivor", id)
		}
	}
	var logged struct {
		Events []struct{ ID string }
	}
	if st := survivor.call(t, http.MethodGet, "/v1/events?limit=1000", tok, nil, &logged); st != http.StatusOK || len(logged.Events) == 0 {
		t.Fatalf("events on the survivor: %d, %d events", st, len(logged.Events))
	}
	apitest.Eventually(t, time.Minute, "a delivery of every event", func() bool {
		receivedMu.Lock()
		defer receivedMu.Unlock()
		for _, e := range logged.Events {
			if received[e.ID] == 0 {
				return false
			}
		}
		return true
	}, func() string {
		receivedMu.Lock()
		defer receivedMu.Unlock()
		return fmt.Sprintf("%d events logged, deliveries by webhook-id %v", len(logged.Events), received)
	})
}

// followLogs reads a log follow stream at url, resuming after lastID when
// positive, until it has read at least n events, and returns their ids, which
// must increase.
func followLogs(t *testing.T, url, token string, lastID int64, n int) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if lastID > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(lastID, 10))
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("follow %s: %d", url, res.StatusCode)
	}
	var ids []int64
	sc := bufio.NewScanner(res.Body)
	for len(ids) < n && sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "id: ")
		if !ok {
			continue
		}
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || (len(ids) > 0 && id <= ids[len(ids)-1]) {
			t.Fatalf("event id %q after %v", v, ids)
		}
		ids = append(ids, id)
	}
	if len(ids) < n {
		t.Fatalf("follow %s: %d events, want %d: %v", url, len(ids), n, sc.Err())
	}
	return ids
}

// replicaPIDs reads the process groups the local driver recorded in the
// data directory.
func replicaPIDs(t *testing.T, dataDir string) []int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dataDir, "runtime", "process-groups.json"))
	if err != nil {
		t.Fatal(err)
	}
	var content struct {
		Groups map[string]uint64 `json:"groups"`
	}
	if err := json.Unmarshal(data, &content); err != nil {
		t.Fatal(err)
	}
	var pids []int
	for k := range content.Groups {
		var pid int
		if _, err := fmt.Sscan(strings.TrimSpace(k), &pid); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}
