package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/logs"
)

// TestBilledFromRuntime: a real agent's replica runs, crashes, restarts
// and is stopped; billing's intervals are exactly the runtime's reported
// process starts and ends (the platform lines' times), compute_hours is
// their sum, and bytes the agent's endpoint carries, counted by the proxy
// and stored on a heartbeat, appear in network_gb.
func TestBilledFromRuntime(t *testing.T) {
	cfg := runtimeConfig("", t.TempDir())
	cfg.BillingHeartbeat = time.Second
	s := apitest.StartConfig(t, cfg)
	greeting := strings.Repeat("x", 4000)
	res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, map[string]any{
		"name": "web", "runtime": "go", "binary_url": binaries.URL + "/agent",
		"environment": map[string]string{"GREETING": greeting},
	})
	if res.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	agent := decodeAgent(t, res)
	waitStatus(t, s, agent.ID, "running")
	var got struct {
		Endpoints []string `json:"endpoints"`
	}
	if res := s.Do(http.MethodGet, "/v1/agents/"+agent.ID, s.AdminToken, nil); json.Unmarshal(res.Body, &got) != nil || len(got.Endpoints) != 1 {
		t.Fatalf("get: %s", res.Body)
	}
	u, err := url.Parse(got.Endpoints[0])
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if status, body := throughHost(t, s, u.Host, "/env?name=GREETING"); status != http.StatusOK || body != greeting {
			t.Fatalf("endpoint answered %d %.40q", status, body)
		}
	}

	// Crash the replica on its own port (not through the endpoint, whose
	// bytes are billed), wait for its restart, then stop the agent; each
	// run lasts over a second, so that compute_hours is not zero.
	time.Sleep(1500 * time.Millisecond)
	first := s.App.Runtime.Replicas(agent.ID)[0]
	if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/crash", first.Port)); err == nil {
		resp.Body.Close()
	}
	apitest.Eventually(t, 30*time.Second, "the restarted replica", func() bool {
		reps := s.App.Runtime.Replicas(agent.ID)
		return len(reps) == 1 && reps[0].Up && reps[0].Instance != first.Instance
	}, func() string { return fmt.Sprintf("replicas %+v", s.App.Runtime.Replicas(agent.ID)) })
	time.Sleep(1500 * time.Millisecond)
	if res := s.Do(http.MethodPost, "/v1/agents/"+agent.ID+"/stop", s.AdminToken, nil); res.Status != http.StatusOK {
		t.Fatalf("stop: %d %s", res.Status, res.Body)
	}
	waitStatus(t, s, agent.ID, "stopped")

	type row struct {
		Instance  string     `bun:"instance"`
		StartedAt time.Time  `bun:"started_at"`
		EndedAt   *time.Time `bun:"ended_at"`
	}
	var ivs []row
	apitest.Eventually(t, 30*time.Second, "two closed intervals", func() bool {
		ivs = nil
		if err := s.App.DB.NewSelect().Table("replica_intervals").Column("instance", "started_at", "ended_at").
			Where("agent_id = ?", agent.ID).Order("id").Scan(context.Background(), &ivs); err != nil {
			t.Fatal(err)
		}
		return len(ivs) == 2 && ivs[0].EndedAt != nil && ivs[1].EndedAt != nil
	}, func() string { return fmt.Sprintf("intervals %+v", ivs) })

	if err := s.App.Logs.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines, err := s.App.Logs.Query(context.Background(), agent.ID, logs.Filter{Tail: logs.All})
	if err != nil {
		t.Fatal(err)
	}
	var started, ended []time.Time // the runtime's reported process starts and ends
	for _, l := range lines {
		switch {
		case l.Replica != 0:
		case strings.HasPrefix(l.Message, "Replica 1 started"):
			started = append(started, l.Timestamp)
		case strings.HasPrefix(l.Message, "Replica 1 exited"), l.Message == "Replica 1 stopped":
			ended = append(ended, l.Timestamp)
		}
	}
	if len(started) != 2 || len(ended) != 2 {
		t.Fatalf("starts %v ends %v in the log", started, ended)
	}
	// Both are kept to the microsecond: the times must be equal.
	for i, iv := range ivs {
		if !iv.StartedAt.Equal(started[i]) || !iv.EndedAt.Equal(ended[i]) {
			t.Errorf("interval %d %s: %s to %s, the runtime reported %s to %s", i, iv.Instance, iv.StartedAt, iv.EndedAt, started[i], ended[i])
		}
	}
	if ivs[0].Instance != first.Instance || ended[0].After(started[1]) {
		t.Errorf("first interval %s ends %s, after the restart's start %s", ivs[0].Instance, ended[0], started[1])
	}
	secs := int64((ended[0].Sub(started[0]) + ended[1].Sub(started[1])) / time.Second)
	if secs < 3 {
		t.Fatalf("runs of %s and %s", ended[0].Sub(started[0]), ended[1].Sub(started[1]))
	}
	hours := float64((secs*2_000_000+3600)/7200) / 1e6 // six decimals, half up

	// 5 × 4000 bytes of responses, no request bodies: 0.00002 GB, stored
	// by a heartbeat.
	var usage map[string]any
	apitest.Eventually(t, 30*time.Second, "network_gb 0.00002", func() bool {
		usage = s.Do(http.MethodGet, "/v1/billing/usage", s.AdminToken, nil).JSON(t)
		return usage["usage"].(map[string]any)["network_gb"] == 0.00002
	}, func() string { return fmt.Sprint(usage) })
	if got := usage["usage"].(map[string]any)["compute_hours"]; got != hours {
		t.Errorf("compute_hours %v, want %v (%d s)", got, hours, secs)
	}
	byAgent := s.Do(http.MethodGet, "/v1/billing/usage?breakdown=agent", s.AdminToken, nil).JSON(t)
	agents, _ := byAgent["agents"].([]any)
	if len(agents) != 1 || agents[0].(map[string]any)["agent_id"] != agent.ID || agents[0].(map[string]any)["network_gb"] != 0.00002 {
		t.Fatalf("breakdown %v", byAgent)
	}
}
