package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
)

// TestNetworkBilled: bytes an agent's endpoint carries, counted by the
// proxy and stored on the next heartbeat, appear in network_gb.
func TestNetworkBilled(t *testing.T) {
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
	if res := s.Do(http.MethodGet, "/v1/agents/"+agent.ID+"/wait?status=running&timeout=60s", s.AdminToken, nil); res.Status != http.StatusOK {
		t.Fatalf("wait: %d %s", res.Status, res.Body)
	}
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
	// 5 × 4000 bytes of responses, no request bodies: 0.00002 GB, stored
	// by a heartbeat.
	var usage map[string]any
	apitest.Eventually(t, 30*time.Second, "network_gb 0.00002", func() bool {
		usage = s.Do(http.MethodGet, "/v1/billing/usage", s.AdminToken, nil).JSON(t)
		return usage["usage"].(map[string]any)["network_gb"] == 0.00002
	}, func() string { return fmt.Sprint(usage) })
	byAgent := s.Do(http.MethodGet, "/v1/billing/usage?breakdown=agent", s.AdminToken, nil).JSON(t)
	agents, _ := byAgent["agents"].([]any)
	if len(agents) != 1 || agents[0].(map[string]any)["agent_id"] != agent.ID || agents[0].(map[string]any)["network_gb"] != 0.00002 {
		t.Fatalf("breakdown %v", byAgent)
	}
}
