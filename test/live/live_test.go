// Package live_test runs whole servers with real agents and checks the
// live platform end to end: logs over REST and SSE with Last-Event-ID
// resume, metrics of a CPU-burning agent, subscriptions over WebSocket
// (both protocols) and GraphQL over SSE, and the final events of streams.
package live_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/internal/logs"
)

var agentPath string

func TestMain(m *testing.M) {
	code := apitest.RunWithAgent(m, "./testdata/agent", &agentPath)
	apitest.RemoveServerBinary()
	os.Exit(code)
}

const jwtSecret = "live-test-secret-live-test-secret-0123456789"

// start runs a server that really runs agents, sampling every second.
func start(t testing.TB, databaseURL string) *apitest.Server {
	return apitest.Start(t, databaseURL, live)
}

func live(c *config.Config) {
	c.RuntimeDriver = config.RuntimeLocal
	c.AllowFileURLs = true
	c.MetricsInterval = time.Second
	c.JWTSecret = jwtSecret
	c.StreamUserCheck = 200 * time.Millisecond
}

func sqlite(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "test.db") }

// createAgent creates a running agent of the test binary and waits until it runs.
func createAgent(t testing.TB, s *apitest.Server, name string, env map[string]string) string {
	t.Helper()
	res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, map[string]any{
		"name": name, "runtime": "go", "binary_url": "file://" + agentPath,
		"config": map[string]any{"replicas": 1}, "environment": env,
	})
	if res.Status != http.StatusCreated {
		t.Fatalf("create agent: %d %s", res.Status, res.Body)
	}
	id := res.JSON(t)["id"].(string)
	if res := s.Do(http.MethodGet, "/v1/agents/"+id+"/wait?status=running&timeout=30s", s.AdminToken, nil); res.Status != http.StatusOK {
		t.Fatalf("wait running: %d %s", res.Status, res.Body)
	}
	return id
}

type logLine struct {
	Timestamp string `json:"timestamp"`
	Level     string `json:"level"`
	Message   string `json:"message"`
	Replica   int    `json:"replica"`
}

var lineNumber = regexp.MustCompile(`^(?:INFO |WARN )?line (\d+)$`)

// number returns N of the agent's "line N" messages, or 0 for other lines.
func number(message string) int {
	m := lineNumber.FindStringSubmatch(message)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

func getLogs(t *testing.T, s *apitest.Server, id, query string) []logLine {
	t.Helper()
	res := s.Do(http.MethodGet, "/v1/agents/"+id+"/logs"+query, s.AdminToken, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("logs%s: %d %s", query, res.Status, res.Body)
	}
	var body struct {
		Logs []json.RawMessage `json:"logs"`
	}
	if err := json.Unmarshal(res.Body, &body); err != nil {
		t.Fatalf("logs: %s: %v", res.Body, err)
	}
	out := make([]logLine, len(body.Logs))
	for i, raw := range body.Logs {
		var keys map[string]any
		if err := json.Unmarshal(raw, &keys); err != nil {
			t.Fatal(err)
		}
		if len(keys) != 4 {
			t.Fatalf("log line %s: want exactly timestamp, level, message, replica", raw)
		}
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestLogsAndMetricsREST(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := start(t, url)
		id := createAgent(t, s, "talker", map[string]string{"TICK_MS": "20"})
		apitest.Eventually(t, 20*time.Second, "10 agent lines", func() bool {
			n := 0
			for _, l := range getLogs(t, s, id, "?tail=1000") {
				if number(l.Message) > 0 {
					n++
				}
			}
			return n >= 10
		})

		tail := getLogs(t, s, id, "?tail=3")
		if len(tail) != 3 {
			t.Fatalf("tail=3 gave %d lines", len(tail))
		}
		// Oldest first: in arrival order, the agent's numbered lines ascend.
		prev := 0
		for _, l := range getLogs(t, s, id, "?tail=50") {
			if n := number(l.Message); n > 0 {
				if n <= prev {
					t.Fatalf("lines not oldest first: %d after %d", n, prev)
				}
				if l.Replica != 1 {
					t.Fatalf("line %d of the only replica has replica %d", n, l.Replica)
				}
				prev = n
			}
		}
		for _, l := range getLogs(t, s, id, "?level=warn&since=1h") {
			if l.Level != "warn" && l.Level != "error" {
				t.Fatalf("level=warn returned %+v", l)
			}
		}
		if len(getLogs(t, s, id, "")) > 100 {
			t.Fatal("default tail is above 100")
		}

		for _, tc := range []struct{ query, field string }{
			{"/logs?tail=abc", "tail"}, {"/logs?tail=100001", "tail"}, {"/logs?tail=-1", "tail"},
			{"/logs?since=yesterday", "since"}, {"/logs?level=verbose", "level"}, {"/logs?follow=maybe", "follow"},
			{"/metrics?period=2h", "period"}, {"/metrics?metric=disk", "metric"},
		} {
			res := s.Do(http.MethodGet, "/v1/agents/"+id+tc.query, s.AdminToken, nil)
			if res.Status != http.StatusBadRequest || res.ErrorField() != tc.field {
				t.Errorf("%s: %d %s, want 400 naming %s", tc.query, res.Status, res.Body, tc.field)
			}
		}
		if res := s.Do(http.MethodGet, "/v1/agents/"+id+"/logs?follow=true", s.AdminToken, nil, "Last-Event-ID", "x"); res.Status != http.StatusBadRequest || res.ErrorField() != "Last-Event-ID" {
			t.Errorf("bad Last-Event-ID: %d %s", res.Status, res.Body)
		}
		for _, path := range []string{"/logs", "/metrics", "/logs?follow=true"} {
			if res := s.Do(http.MethodGet, "/v1/agents/agt_0000000000000000"+path, s.AdminToken, nil); res.Status != http.StatusNotFound {
				t.Errorf("unknown agent %s: %d %s", path, res.Status, res.Body)
			}
		}
		if res := s.Do(http.MethodGet, "/v1/agents/"+id+"/logs", "", nil); res.Status != http.StatusUnauthorized {
			t.Errorf("logs without a token: %d", res.Status)
		}
	})
}

func TestMetricsOfABurningAgent(t *testing.T) {
	s := start(t, sqlite(t))
	id := createAgent(t, s, "burner", map[string]string{"BURN": "1", "TICK_MS": "1000"})

	// The agentMetrics subscription gets the samples as they are taken.
	ws, _, err := dial(t, s, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.init(s.AdminToken)
	ws.subscribe("m", `subscription($id: ID!) { agentMetrics(id: $id) { agentId timestamp cpu memory network } }`, map[string]any{"id": id})
	for {
		r, ok := ws.nextResult("m")
		if !ok || len(r.Errors) > 0 {
			t.Fatalf("agentMetrics stream: %+v", r)
		}
		var sample struct {
			AgentMetrics struct {
				AgentID     string
				CPU, Memory float64
			}
		}
		if err := json.Unmarshal(r.Data, &sample); err != nil {
			t.Fatal(err)
		}
		if sample.AgentMetrics.AgentID != id {
			t.Fatalf("sample %s", r.Data)
		}
		if sample.AgentMetrics.CPU > 0 && sample.AgentMetrics.Memory > 0 {
			break
		}
	}
	var body struct {
		Metrics map[string][]struct {
			Timestamp time.Time `json:"timestamp"`
			Value     float64   `json:"value"`
		} `json:"metrics"`
	}
	apitest.Eventually(t, 30*time.Second, "cpu and memory points above zero", func() bool {
		res := s.Do(http.MethodGet, "/v1/agents/"+id+"/metrics", s.AdminToken, nil)
		if res.Status != http.StatusOK {
			t.Fatalf("metrics: %d %s", res.Status, res.Body)
		}
		if err := json.Unmarshal(res.Body, &body); err != nil {
			t.Fatal(err)
		}
		cpu, mem := body.Metrics["cpu"], body.Metrics["memory"]
		return len(cpu) > 0 && len(mem) > 0 && cpu[len(cpu)-1].Value > 0 && mem[len(mem)-1].Value > 0
	})
	if _, ok := body.Metrics["network"]; !ok {
		t.Fatal("the default series lack network")
	}
	p := body.Metrics["cpu"][0]
	if p.Timestamp.Second() != 0 || p.Timestamp.Location() != time.UTC {
		t.Fatalf("1h points must be whole UTC minutes: %v", p.Timestamp)
	}
	res := s.Do(http.MethodGet, "/v1/agents/"+id+"/metrics?period=24h&metric=cpu", s.AdminToken, nil)
	var only map[string]map[string]json.RawMessage
	if err := json.Unmarshal(res.Body, &only); err != nil || len(only["metrics"]) != 1 || only["metrics"]["cpu"] == nil {
		t.Fatalf("metric=cpu: %d %s", res.Status, res.Body)
	}
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	ID, Event, Data string
}

// readSSE sends events of the stream at url to the returned channel until
// the stream ends; the response header comes back first.
func readSSE(t *testing.T, ctx context.Context, url, token string, header ...string) (*http.Response, <-chan sseEvent) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan sseEvent)
	go func() {
		defer close(ch)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.Data != "" || ev.Event != "" {
					select {
					case ch <- ev:
					case <-ctx.Done():
						return
					}
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.ID = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.Event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.Data = line[6:]
			}
		}
	}()
	return res, ch
}

func next(t *testing.T, ch <-chan sseEvent) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("stream ended")
		}
		return ev
	case <-time.After(15 * time.Second):
		t.Fatal("no event within 15s")
	}
	return sseEvent{}
}

// TestFollowResumesWithoutGapsAndEndsOnDelete reads follow=true: the
// backlog, then live lines; reconnects with Last-Event-ID and checks that
// the agent's numbered lines continue with no gap and no repeat; then
// deletes the agent and sees the stream end with a final event.
func TestFollowResumesWithoutGapsAndEndsOnDelete(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := start(t, url)
		id := createAgent(t, s, "follower", map[string]string{"TICK_MS": "10"})
		apitest.Eventually(t, 20*time.Second, "backlog", func() bool { return len(getLogs(t, s, id, "?tail=20")) >= 20 })

		ctx, cancel := context.WithCancel(context.Background())
		res, events := readSSE(t, ctx, s.URL+"/v1/agents/"+id+"/logs?follow=true&tail=5", s.AdminToken)
		if ct := res.Header.Get("Content-Type"); ct != "text/event-stream" {
			t.Fatalf("Content-Type = %q", ct)
		}
		var numbers []int
		lastID := int64(0)
		record := func(ev sseEvent) {
			t.Helper()
			id, err := strconv.ParseInt(ev.ID, 10, 64)
			if err != nil || id <= lastID {
				t.Fatalf("event id %q after %d: ids must increase", ev.ID, lastID)
			}
			lastID = id
			var l logLine
			if err := json.Unmarshal([]byte(ev.Data), &l); err != nil || l.Timestamp == "" {
				t.Fatalf("event data %q", ev.Data)
			}
			if n := number(l.Message); n > 0 {
				numbers = append(numbers, n)
			}
		}
		for range 5 {
			record(next(t, events)) // the backlog
		}
		for range 30 {
			record(next(t, events)) // live lines
		}
		cancel()
		for range events {
		}

		// Lines keep coming while no one listens; the resume must bring them all.
		time.Sleep(200 * time.Millisecond)
		ctx, cancel = context.WithCancel(context.Background())
		defer cancel()
		_, events = readSSE(t, ctx, s.URL+"/v1/agents/"+id+"/logs?follow=true", s.AdminToken, "Last-Event-ID", strconv.FormatInt(lastID, 10))
		for range 40 {
			record(next(t, events))
		}
		for i := 1; i < len(numbers); i++ {
			if numbers[i] != numbers[i-1]+1 {
				t.Fatalf("line numbers jump from %d to %d: a gap or a repeat across the reconnect", numbers[i-1], numbers[i])
			}
		}

		if res := s.Do(http.MethodDelete, "/v1/agents/"+id, s.AdminToken, nil); res.Status != http.StatusOK {
			t.Fatalf("delete: %d %s", res.Status, res.Body)
		}
		for {
			ev := next(t, events)
			if ev.Event == "error" {
				if !strings.Contains(ev.Data, `"not_found"`) {
					t.Fatalf("final event %q", ev.Data)
				}
				break
			}
		}
		select {
		case _, ok := <-events:
			if ok {
				t.Fatal("events after the final one")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("stream still open after the agent's deletion")
		}
	})
}

// TestFollowResumesAcrossARestart follows an agent's log, restarts the
// server on the same database, and resumes with Last-Event-ID: the stream
// must bring exactly the stored lines after that id, in order.
func TestFollowResumesAcrossARestart(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		cfg := apitest.Config(url, t.TempDir())
		live(&cfg)
		s := apitest.StartConfig(t, cfg)
		id := createAgent(t, s, "survivor", map[string]string{"TICK_MS": "10"})
		ctx, cancel := context.WithCancel(context.Background())
		_, events := readSSE(t, ctx, s.URL+"/v1/agents/"+id+"/logs?follow=true&tail=5", s.AdminToken)
		var lastID int64
		for range 20 {
			lastID, _ = strconv.ParseInt(next(t, events).ID, 10, 64)
		}
		cancel()
		for range events {
		}
		s.Close()
		if err := s.App.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}

		s = apitest.StartConfig(t, cfg)
		ctx, cancel = context.WithCancel(context.Background())
		defer cancel()
		_, events = readSSE(t, ctx, s.URL+"/v1/agents/"+id+"/logs?follow=true", s.AdminToken, "Last-Event-ID", strconv.FormatInt(lastID, 10))
		var got []int64
		for range 40 { // the lines written before the restart, then the new replica's
			n, _ := strconv.ParseInt(next(t, events).ID, 10, 64)
			got = append(got, n)
		}
		stored, err := s.App.Logs.Query(ctx, id, logs.Filter{AfterID: lastID, Tail: logs.All})
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) < len(got) {
			t.Fatalf("%d lines stored after %d, %d followed", len(stored), lastID, len(got))
		}
		for i, n := range got {
			if stored[i].ID != n {
				t.Fatalf("event %d after the restart has id %d, the stored line there %d (%q): a gap or a repeat", i, n, stored[i].ID, stored[i].Message)
			}
		}
	})
}
