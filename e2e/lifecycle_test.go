package e2e_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/events"
)

// TestLifecycleRepliesSayTheTransition: stop, start and restart answer the
// transition they started (never the status they are leaving), publish it
// as agent.updated, and the runtime then reports where the agent got to;
// a scaled agent stays running.
func TestLifecycleRepliesSayTheTransition(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.StartConfig(t, runtimeConfig(url, t.TempDir()))
		admin := s.Admin()
		sub, err := s.App.Bus.Subscribe(context.Background(), events.AgentEventsTopic(admin.OrgID))
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, map[string]any{"name": "cycle", "runtime": "go", "binary_url": binaries.URL + "/agent"})
		agent := decodeAgent(t, res)
		waitStatus(t, s, agent.ID, "running")

		// published waits for agent.updated with status.
		published := func(t *testing.T, status string) {
			t.Helper()
			timeout := time.After(30 * time.Second)
			for {
				select {
				case m := <-sub.C:
					if ev, ok := m.Payload.(events.AgentEvent); ok && ev.Event == events.AgentUpdated && ev.Data.AgentID == agent.ID && ev.Data.Status == status {
						return
					}
				case <-timeout:
					t.Fatalf("no agent.updated with status %s", status)
				}
			}
		}
		for _, step := range []struct{ action, answer, then string }{
			{"stop", "stopping", "stopped"},
			{"start", "starting", "running"},
			{"restart", "restarting", "running"},
		} {
			t.Run(step.action, func(t *testing.T) {
				before := livePIDs(s, agent.ID)
				res := s.Do(http.MethodPost, "/v1/agents/"+agent.ID+"/"+step.action, s.AdminToken, nil)
				if got := decodeAgent(t, res); res.Status != http.StatusOK || got.Status != step.answer {
					t.Fatalf("%s answered %d %s, want status %s", step.action, res.Status, res.Body, step.answer)
				}
				published(t, step.answer)
				waitStatus(t, s, agent.ID, step.then)
				if step.action == "restart" {
					apitest.Eventually(t, 30*time.Second, "the replica replaced", func() bool {
						pids := livePIDs(s, agent.ID)
						return len(pids) == 1 && !slices.Contains(before, pids[0])
					})
				}
			})
		}
		t.Run("scale", func(t *testing.T) {
			res := s.Do(http.MethodPost, "/v1/agents/"+agent.ID+"/scale", s.AdminToken, map[string]int{"replicas": 2})
			if got := decodeAgent(t, res); res.Status != http.StatusOK || got.Status != "running" {
				t.Fatalf("scale answered %d %s", res.Status, res.Body)
			}
		})
	})
}
