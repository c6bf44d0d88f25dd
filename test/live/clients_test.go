package live_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/events"
)

// jsDir holds the Node.js clients; .ci/run installs them with npm ci.
var jsDir = filepath.Join("..", "js")

// tool returns the path of a program the test needs, skipping the test
// when it is missing outside CI.
func tool(t *testing.T, name, check string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if _, statErr := os.Stat(check); err != nil || statErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs %s and %s: %v %v", name, check, err, statErr)
		}
		t.Skipf("%s or %s missing: run `npm ci` in test/js", name, check)
	}
	return path
}

// jsClient runs test/js/live.mjs and yields each JSON line it prints.
type jsClient struct {
	t     *testing.T
	lines *bufio.Scanner
}

func startJS(t *testing.T, protocol, base, token, query string, vars map[string]any) *jsClient {
	t.Helper()
	node := tool(t, "node", filepath.Join(jsDir, "node_modules", "graphql-ws"))
	varsJSON, _ := json.Marshal(vars)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, node, "live.mjs", protocol, base, token, query, string(varsJSON))
	cmd.Dir = jsDir
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	return &jsClient{t: t, lines: bufio.NewScanner(stdout)}
}

// next returns the next printed object; reads are bounded by the command's timeout.
func (c *jsClient) next() map[string]any {
	c.t.Helper()
	if !c.lines.Scan() {
		c.t.Fatalf("client exited: %v", c.lines.Err())
	}
	var v map[string]any
	if err := json.Unmarshal(c.lines.Bytes(), &v); err != nil {
		c.t.Fatalf("client printed %q", c.lines.Text())
	}
	if e, ok := v["error"]; ok {
		c.t.Fatalf("client error: %v", e)
	}
	return v
}

// TestRealClients: the npm clients graphql-ws (graphql-transport-ws) and
// subscriptions-transport-ws (legacy graphql-ws) receive a real agent's
// start and stop; graphql-sse streams its log lines.
func TestRealClients(t *testing.T) {
	for _, protocol := range []string{"graphql-ws", "legacy"} {
		t.Run(protocol, func(t *testing.T) {
			s := start(t, sqlite(t))
			before := subscribers(s)
			c := startJS(t, protocol, s.URL, s.AdminToken, agentEventsQuery, nil)
			if v := c.next(); v["connected"] != true {
				t.Fatalf("first line %v", v)
			}
			apitest.Eventually(t, 10*time.Second, "the subscription on the bus", func() bool { return subscribers(s) > before })
			id := createAgent(t, s, "js-"+protocol, nil)
			waitEvent := func(event string) {
				t.Helper()
				for {
					v := c.next()
					data, _ := json.Marshal(v["data"])
					if strings.Contains(string(data), `"agentId":"`+id+`"`) && strings.Contains(string(data), `"event":"`+event+`"`) {
						return
					}
				}
			}
			waitEvent("agent.started")
			if res := s.Do(http.MethodPost, "/v1/agents/"+id+"/stop", s.AdminToken, nil); res.Status != http.StatusOK {
				t.Fatalf("stop: %d %s", res.Status, res.Body)
			}
			waitEvent("agent.stopped")
		})
	}
	t.Run("graphql-sse", func(t *testing.T) {
		s := start(t, sqlite(t))
		id := createAgent(t, s, "js-sse", map[string]string{"TICK_MS": "20"})
		c := startJS(t, "sse", s.URL, s.AdminToken, `subscription($id: ID!) { agentLogs(id: $id, tail: 2) { id message } }`, map[string]any{"id": id})
		c.next() // connected
		last := 0
		for range 10 {
			v := c.next()
			data, _ := json.Marshal(v["data"])
			var r struct{ AgentLogs struct{ ID string } }
			if err := json.Unmarshal(data, &r); err != nil {
				t.Fatal(err)
			}
			n, err := strconv.Atoi(r.AgentLogs.ID)
			if err != nil || n <= last {
				t.Fatalf("line %s after %d", data, last)
			}
			last = n
		}
	})
}

// TestCurlFollow: curl -N reads follow=true and gets the backlog, then live lines.
func TestCurlFollow(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI needs curl")
		}
		t.Skip("curl missing")
	}
	s := start(t, sqlite(t))
	id := createAgent(t, s, "curled", map[string]string{"TICK_MS": "50"})
	apitest.Eventually(t, 20*time.Second, "a backlog of 5 lines", func() bool { return len(getLogs(t, s, id, "?tail=5")) == 5 })
	backlog := getLogs(t, s, id, "?tail=5")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, curl, "-sN", "-H", "Authorization: Bearer "+s.AdminToken, s.URL+"/v1/agents/"+id+"/logs?follow=true&tail=5")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cancel()
	sc := bufio.NewScanner(stdout)
	var got []logLine
	ids := map[string]bool{}
	for len(got) < 15 && sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var l logLine
			if err := json.Unmarshal([]byte(data), &l); err != nil {
				t.Fatalf("data %q", data)
			}
			got = append(got, l)
		}
		if id, ok := strings.CutPrefix(sc.Text(), "id: "); ok {
			if ids[id] {
				t.Fatalf("event id %s twice", id)
			}
			ids[id] = true
		}
	}
	if len(got) < 15 || len(ids) != len(got) {
		t.Fatalf("curl read %d events with %d ids", len(got), len(ids))
	}
	// The backlog is the tail read just before (lines may have come since):
	// in the whole log, in arrival order, it starts no earlier. Platform
	// lines ("Agent started") have no number, so positions are compared.
	all := getLogs(t, s, id, "?tail=1000")
	if first, tail := slices.Index(all, got[0]), slices.Index(all, backlog[0]); first < 0 || tail < 0 || first < tail {
		t.Fatalf("backlog starts at %v (line %d of the log), before the tail %v (line %d)", got[0], first, backlog[0], tail)
	}
	// Lines are in arrival order: the agent's numbered lines follow each other.
	prev := 0
	for _, l := range got {
		if n := number(l.Message); n > 0 {
			if prev > 0 && n != prev+1 {
				t.Fatalf("line %d after %d: not in order or a gap", n, prev)
			}
			prev = n
		}
	}
}

// subscribers counts the subscriptions on the buses of every instance
// behind s, so that a test can wait until a client's subscription is in
// place.
func subscribers(s *apitest.Server) int64 {
	var n int64
	for _, a := range s.Instances {
		n += a.Bus.(events.StatsSource).Stats().Subscribers
	}
	return n
}
