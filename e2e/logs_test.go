package e2e_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/logs"
)

type logJSON struct {
	Timestamp string `json:"timestamp"`
	Level     string `json:"level"`
	Message   string `json:"message"`
	Replica   *int   `json:"replica"`
}

func restLogs(t *testing.T, s *apitest.Server, id string) []logJSON {
	t.Helper()
	res := s.Do(http.MethodGet, "/v1/agents/"+id+"/logs?tail=10000", s.AdminToken, nil)
	var body struct{ Logs []logJSON }
	if err := json.Unmarshal(res.Body, &body); err != nil || res.Status != http.StatusOK {
		t.Fatalf("logs: %d %s", res.Status, res.Body)
	}
	return body.Logs
}

func createAgent(t *testing.T, s *apitest.Server, name string, replicas int, env map[string]string) string {
	t.Helper()
	res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, map[string]any{
		"name": name, "runtime": "go", "binary_url": binaries.URL + "/agent",
		"config": map[string]any{"replicas": replicas}, "environment": env,
	})
	if res.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.Status, res.Body)
	}
	id := decodeAgent(t, res).ID
	waitStatus(t, s, id, "running")
	return id
}

func TestLogLinesCarryTheirReplica(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.StartConfig(t, runtimeConfig(url, t.TempDir()))
		id := createAgent(t, s, "twins", 2, nil)
		// Both replicas print "INFO plain info": only replica tells them apart.
		t.Run("REST", func(t *testing.T) {
			var lines []logJSON
			apitest.Eventually(t, 30*time.Second, "the line of each replica", func() bool {
				lines = restLogs(t, s, id)
				seen := map[int]bool{}
				for _, l := range lines {
					if l.Replica == nil {
						t.Fatalf("line %+v has no replica", l)
					}
					if l.Message == "INFO plain info" {
						seen[*l.Replica] = true
					}
				}
				return seen[1] && seen[2] && len(seen) == 2
			})
			for _, l := range lines {
				if l.Message == "Agent started" && *l.Replica != 0 {
					t.Fatalf("platform line %+v: want replica 0", l)
				}
			}
		})
		t.Run("GraphQL", func(t *testing.T) {
			res := s.GraphQL(s.AdminToken, `query($id: ID!) { agentLogs(id: $id, tail: 10000) { logs { replica message } } }`, map[string]any{"id": id})
			var data struct {
				AgentLogs struct {
					Logs []struct {
						Replica int
						Message string
					}
				}
			}
			if err := json.Unmarshal(res.Data, &data); err != nil || len(res.Errors) > 0 {
				t.Fatalf("%s %v", res.Data, res.Errors)
			}
			seen := map[int]int{}
			for _, l := range data.AgentLogs.Logs {
				if l.Message == "INFO plain info" {
					seen[l.Replica]++
				}
			}
			if seen[1] != 1 || seen[2] != 1 || len(seen) != 2 {
				t.Fatalf("replicas of the shared line: %v", seen)
			}
		})
	})
}

var dropReport = regexp.MustCompile(`^(\d{1,3}(?:,\d{3})*) lines dropped: log rate limit$`)

func TestLogFloodIsCutAndRateLimited(t *testing.T) {
	cfg := runtimeConfig("sqlite:"+t.TempDir()+"/test.db", t.TempDir())
	cfg.LogRateBytes = 256 << 10
	cfg.LogRateBurst = time.Second
	cfg.LogQueueBytes = 4 << 20
	s := apitest.StartConfig(t, cfg)
	// 9 short lines, one of 1 MiB, 300 of 64 KiB (19 MiB) and "flood done".
	const written = 9 + 1 + 300 + 1
	id := createAgent(t, s, "flood", 1, map[string]string{"FLOOD_LINES": "300"})
	var kept, dropped int
	var lines []logJSON
	apitest.Eventually(t, 30*time.Second, "every line stored or counted as dropped", func() bool {
		if q := s.App.Logs.Stats().QueuedBytes; q > int64(cfg.LogQueueBytes) {
			t.Fatalf("queued %d bytes, bound %d", q, cfg.LogQueueBytes)
		}
		lines = restLogs(t, s, id)
		kept, dropped = 0, 0
		for _, l := range lines {
			switch m := dropReport.FindStringSubmatch(l.Message); {
			case m != nil && *l.Replica == 0:
				n, _ := strconv.Atoi(strings.ReplaceAll(m[1], ",", ""))
				dropped += n
			case *l.Replica == 1:
				kept++
			}
		}
		return kept+dropped == written
	})
	if dropped == 0 {
		t.Fatalf("nothing dropped of %d lines", written)
	}
	huge := 0
	for _, l := range lines {
		if len(l.Message) > cfg.LogMaxLineBytes+len(logs.TruncatedMarker) ||
			len(l.Message) > cfg.LogMaxLineBytes && !strings.HasSuffix(l.Message, logs.TruncatedMarker) {
			t.Fatalf("line of %d bytes (%.20q…) not cut at %d with the marker", len(l.Message), l.Message, cfg.LogMaxLineBytes)
		}
		if strings.HasPrefix(l.Message, "huge ") {
			huge++
		}
		if strings.Trim(l.Message, "x") == "" {
			t.Fatalf("the rest of a cut line was logged on its own")
		}
	}
	if huge != 1 {
		t.Fatalf("the 1 MiB line is %d lines, want 1", huge)
	}
}
