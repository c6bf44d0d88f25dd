package webhooks_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
)

// event is one event of GET /v1/events.
type event struct {
	ID    string `json:"id"`
	Event string `json:"event"`
	Data  struct {
		AgentID string `json:"agent_id"`
		Status  string `json:"status"`
	} `json:"data"`
}

func agentEvents(t *testing.T, s *apitest.Server, agentID string) []event {
	t.Helper()
	res := s.Do(http.MethodGet, "/v1/events?limit=1000&agent_id="+agentID, s.AdminToken, nil)
	if res.Status != 200 {
		t.Fatalf("events: %d %s", res.Status, res.Body)
	}
	var page struct{ Events []event }
	if err := json.Unmarshal(res.Body, &page); err != nil {
		t.Fatal(err)
	}
	return page.Events
}

func do(t *testing.T, s *apitest.Server, method, path string, body any, want int) {
	t.Helper()
	if res := s.Do(method, path, s.AdminToken, body); res.Status != want {
		t.Fatalf("%s %s: %d %s", method, path, res.Status, res.Body)
	}
}

// TestReceiver: a receiver built on the standardwebhooks package verifies
// every delivery of a real agent's whole lifecycle, for a generated
// whsec_ secret and a raw one, and gets only the events it subscribed to.
func TestReceiver(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url, live)
		rc := startNodeReceiver(t)
		base := fmt.Sprintf("http://127.0.0.1:%d", rc.Port)
		all := createWebhook(t, s, s.AdminToken, map[string]any{"url": base + "/all", "events": []string{"*"}})
		some := createWebhook(t, s, s.AdminToken, map[string]any{"url": base + "/some", "events": []string{"agent.created", "agent.stopped"}, "secret": "your-webhook-secret"})
		rc.configure(t, map[string]map[string]any{
			"/all":  {"secret": all.Secret},
			"/some": {"secret": some.Secret, "raw": true},
		})

		res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, map[string]any{
			"name": "hooked", "runtime": "go", "binary_url": "file://" + agentPath, "config": map[string]any{"replicas": 1},
		})
		if res.Status != http.StatusCreated {
			t.Fatalf("create agent: %d %s", res.Status, res.Body)
		}
		id := res.JSON(t)["id"].(string)
		path := "/v1/agents/" + id
		do(t, s, http.MethodGet, path+"/wait?status=running&timeout=60s", nil, 200)
		do(t, s, http.MethodPut, path, map[string]any{"config": map[string]any{"replicas": 2}}, 200)
		do(t, s, http.MethodPost, path+"/stop", nil, 200)
		do(t, s, http.MethodGet, path+"/wait?status=stopped&timeout=60s", nil, 200)
		do(t, s, http.MethodPut, path, map[string]any{"binary_url": "file:///nonexistent/agent"}, 200)
		do(t, s, http.MethodPost, path+"/start", nil, 200)
		do(t, s, http.MethodGet, path+"/wait?status=error&timeout=60s", nil, 200)
		do(t, s, http.MethodDelete, path, nil, 200)

		// A deleted agent writes no more events: the log is final now.
		logged := agentEvents(t, s, id)
		types := map[string]bool{}
		var wantAll, wantSome []string
		for _, ev := range logged {
			types[ev.Event] = true
			wantAll = append(wantAll, ev.ID)
			if ev.Event == "agent.created" || ev.Event == "agent.stopped" {
				wantSome = append(wantSome, ev.ID)
			}
		}
		for _, typ := range []string{"agent.created", "agent.started", "agent.updated", "agent.stopped", "agent.error", "agent.deleted"} {
			if !types[typ] {
				t.Fatalf("the lifecycle wrote no %s: %+v", typ, logged)
			}
		}
		byPath := func() map[string][]string {
			out := map[string][]string{}
			for _, r := range rc.received() {
				if !r.Verified {
					t.Fatalf("standardwebhooks refused a delivery: %+v", r)
				}
				if r.AgentID == id {
					out[r.Path] = append(out[r.Path], r.ID)
				}
			}
			return out
		}
		apitest.Eventually(t, waitFor, "every event at both receivers", func() bool {
			got := byPath()
			return len(got["/all"]) >= len(wantAll) && len(got["/some"]) >= len(wantSome)
		})
		got := byPath()
		// Deliveries go out concurrently, in no promised order: compare sets.
		slices.Sort(got["/all"])
		slices.Sort(got["/some"])
		slices.Sort(wantAll)
		slices.Sort(wantSome)
		if !slices.Equal(got["/all"], wantAll) || !slices.Equal(got["/some"], wantSome) {
			t.Fatalf("received %v, want /all %v and /some %v", got, wantAll, wantSome)
		}
	})
}
