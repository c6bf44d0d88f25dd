package app_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/models"
)

// TestWebSocketRefusalsCounted: operations over a WebSocket that the
// rate limit refuses count in the refusals series, as HTTP's 429s do.
func TestWebSocketRefusalsCounted(t *testing.T) {
	s := apitest.Start(t, "", func(c *config.Config) { c.RateLimitMin = 0 })
	free := s.CreateOrg("free-ws", "free-ws@example.com", models.TierFree)
	before := refusals(t, s)
	// The operations must fall into one window of the minute.
	if left := time.Until(time.Now().Truncate(time.Minute).Add(time.Minute)); left < 20*time.Second {
		time.Sleep(left)
	}

	header := http.Header{"Sec-WebSocket-Protocol": {"graphql-transport-ws"}}
	ws, res, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(s.URL, "http")+"/graphql", header)
	if err != nil {
		t.Fatalf("dial: %v %v", err, res)
	}
	defer ws.Close()
	if err := ws.SetReadDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	send := func(m map[string]any) {
		t.Helper()
		if err := ws.WriteJSON(m); err != nil {
			t.Fatal(err)
		}
	}
	send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + free.Token}})
	var ack struct{ Type string }
	if err := ws.ReadJSON(&ack); err != nil || ack.Type != "connection_ack" {
		t.Fatalf("ack: %+v %v", ack, err)
	}
	const operations = 110
	for i := range operations {
		send(map[string]any{"id": string(rune('a'+i%26)) + strings.Repeat("x", i/26), "type": "subscribe", "payload": map[string]any{"query": "{ me { id } }"}})
	}
	limited := 0
	for done := 0; done < operations; {
		var m struct {
			Type    string
			Payload json.RawMessage
		}
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatalf("after %d of %d operations: %v", done, operations, err)
		}
		var errs []struct{ Extensions struct{ Code string } }
		switch m.Type {
		case "complete":
			done++
			continue
		case "error":
			done++
			if err := json.Unmarshal(m.Payload, &errs); err != nil {
				t.Fatal(err)
			}
		case "next":
			var result struct {
				Errors []struct{ Extensions struct{ Code string } }
			}
			if err := json.Unmarshal(m.Payload, &result); err != nil {
				t.Fatal(err)
			}
			errs = result.Errors
		}
		if len(errs) > 0 && errs[0].Extensions.Code == models.CodeRateLimitExceeded {
			limited++
		}
	}
	if limited == 0 {
		t.Fatalf("no operation of %d refused by the free tier's limit", operations)
	}
	if got := refusals(t, s) - before; got != float64(limited) {
		t.Fatalf("refusals series moved by %v, want the %d refused operations", got, limited)
	}
}

func refusals(t *testing.T, s *apitest.Server) float64 {
	t.Helper()
	res := s.Do(http.MethodGet, "/metrics", s.AdminToken, nil)
	if res.Status != http.StatusOK {
		t.Fatalf("/metrics: %d %s", res.Status, res.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(string(res.Body)))
	if err != nil {
		t.Fatal(err)
	}
	f := families["neuais_rate_limit_refusals_total"]
	if f == nil || len(f.Metric) != 1 {
		t.Fatalf("no refusals series: %v", f)
	}
	return f.Metric[0].GetCounter().GetValue()
}
