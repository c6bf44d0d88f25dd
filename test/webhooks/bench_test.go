package webhooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/models"
)

// benchDuration is how long BenchmarkDelivery makes changes.
const benchDuration = 30 * time.Second

// BenchmarkDelivery creates agents through POST /v1/agents at 1,000 per
// second (and, to see the dispatcher below saturation, 200) for benchDuration (SQLite, the default configuration) with a
// webhook on agent.created to a fast local receiver, and reports
// deliveries per second, the latency from sending the create to the
// receipt of its delivery (p50, p99; ack- from the 201 to the receipt),
// and the deliveries lost (creates
// acknowledged whose delivery never came). Run it once:
//
//	go test ./test/webhooks -run '^$' -bench Delivery -benchtime 1x
//
// The api cases make each change through POST /v1/agents; the log cases
// write the same agent.created events straight into the event log (as the
// API's transaction does), to measure the dispatcher where the API
// cannot sustain the rate on the machine.
func BenchmarkDelivery(b *testing.B) {
	dbs := map[string]func(b *testing.B) string{"sqlite": func(b *testing.B) string { return "sqlite:" + filepath.Join(b.TempDir(), "bench.db") }}
	if os.Getenv(apitest.PostgresEnv) != "" {
		dbs["postgres"] = func(b *testing.B) string { return apitest.PostgresURL(b) }
	}
	for _, db := range []string{"sqlite", "postgres"} {
		if dbs[db] == nil {
			continue
		}
		for _, c := range []struct {
			via  string
			rate int
		}{{"api", 1000}, {"log", 1000}, {"api", 200}} {
			b.Run(fmt.Sprintf("%s/%s/%d", db, c.via, c.rate), func(b *testing.B) {
				for range b.N {
					benchDelivery(b, dbs[db](b), c.via == "log", c.rate)
				}
			})
		}
	}
}

func benchDelivery(b *testing.B, databaseURL string, direct bool, rate int) {
	s := apitest.Start(b, databaseURL, func(c *config.Config) { c.AllowPrivateWebhookURLs = true })
	var mu sync.Mutex
	sent := map[string]time.Time{}
	acked := map[string]time.Time{} // when the 201 came back
	got := map[string]time.Time{}
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		var p struct {
			Data struct {
				Name string `json:"name"`
			} `json:"data"`
		}
		json.NewDecoder(r.Body).Decode(&p) //nolint:errcheck // an empty name counts as nothing
		mu.Lock()
		if _, seen := got[p.Data.Name]; !seen {
			got[p.Data.Name] = at
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rc.Close()
	if res := s.Do(http.MethodPost, "/v1/webhooks", s.AdminToken, map[string]any{"url": rc.URL, "events": []string{"agent.created"}}); res.Status != 201 {
		b.Fatalf("webhook: %d %s", res.Status, res.Body)
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}}
	orgID := s.Admin().OrgID
	jobs := make(chan string, rate)
	var workers sync.WaitGroup
	for range 128 {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for name := range jobs {
				if direct {
					start := time.Now()
					_, err := s.App.Events.Change(context.Background(), func(_ context.Context, tx *events.Tx) error {
						tx.Record(events.AgentEvent{Event: events.AgentCreated, Data: events.AgentEventData{AgentID: "agt_" + name, Name: name, OrgID: orgID}})
						return nil
					})
					if err == nil {
						at := time.Now()
						mu.Lock()
						sent[name], acked[name] = start, at
						mu.Unlock()
					}
					continue
				}
				body, _ := json.Marshal(map[string]any{"name": name, "runtime": "go", "binary_url": "https://example.com/agent"})
				req, _ := http.NewRequest(http.MethodPost, s.URL+"/v1/agents", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+s.AdminToken)
				start := time.Now()
				mu.Lock()
				sent[name] = start
				mu.Unlock()
				res, err := client.Do(req)
				if err != nil {
					continue
				}
				io.Copy(io.Discard, res.Body) //nolint:errcheck // only the status matters
				res.Body.Close()
				if res.StatusCode == http.StatusCreated {
					at := time.Now()
					mu.Lock()
					acked[name] = at
					mu.Unlock()
				}
			}
		}()
	}
	b.ResetTimer()
	begin := time.Now()
	const tick = 10 * time.Millisecond
	ticker := time.NewTicker(tick)
	n := 0
	for now := range ticker.C {
		if now.Sub(begin) >= benchDuration {
			break
		}
		// Keep to the rate whatever the ticker's drift.
		for due := int(now.Sub(begin) * time.Duration(rate) / time.Second); n < due; n++ {
			jobs <- fmt.Sprintf("bench-%d", n)
		}
	}
	ticker.Stop()
	close(jobs)
	workers.Wait()
	sending := time.Since(begin)
	mu.Lock()
	total := len(acked)
	mu.Unlock()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		mu.Lock()
		done := len(got) >= total
		mu.Unlock()
		if done {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.StopTimer()
	fanOut, sendAt := stages(b, s)
	mu.Lock()
	defer mu.Unlock()
	var lat, fromAck, toFanOut, toSend, toReceipt []time.Duration
	var last time.Time
	lost := 0
	for name, ack := range acked {
		at, ok := got[name]
		if !ok {
			lost++
			continue
		}
		lat = append(lat, at.Sub(sent[name]))
		fromAck = append(fromAck, at.Sub(ack))
		if f, ok := fanOut[name]; ok {
			toFanOut = append(toFanOut, f.Sub(ack))
			toSend = append(toSend, sendAt[name].Sub(f))
			toReceipt = append(toReceipt, at.Sub(sendAt[name]))
		}
		if at.After(last) {
			last = at
		}
	}
	for _, l := range [][]time.Duration{lat, fromAck, toFanOut, toSend, toReceipt} {
		slices.Sort(l)
	}
	pct := func(lat []time.Duration, p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(n)/sending.Seconds(), "creates/s")
	b.ReportMetric(float64(total), "acknowledged")
	b.ReportMetric(float64(len(lat))/last.Sub(begin).Seconds(), "deliveries/s")
	b.ReportMetric(pct(lat, 0.50), "p50-ms")
	b.ReportMetric(pct(lat, 0.99), "p99-ms")
	b.ReportMetric(pct(fromAck, 0.50), "ack-p50-ms")
	b.ReportMetric(pct(fromAck, 0.99), "ack-p99-ms")
	b.ReportMetric(float64(lost), "lost")
	// Where the time from the ack goes: to the pass that wrote the
	// delivery, from there to the first attempt's start, from there to
	// the receipt.
	b.ReportMetric(pct(toFanOut, 0.99), "ack-fanout-p99-ms")
	b.ReportMetric(pct(toSend, 0.99), "fanout-send-p99-ms")
	b.ReportMetric(pct(toReceipt, 0.99), "send-receipt-p99-ms")
}

// stages returns, by agent name, when the delivery of its agent.created
// was written (the fan-out) and when its first attempt started.
func stages(b *testing.B, s *apitest.Server) (fanOut, sendAt map[string]time.Time) {
	ctx := context.Background()
	var ds []models.Delivery
	if err := s.App.DB.NewSelect().Model(&ds).Column("id", "payload", "created_at").Scan(ctx); err != nil {
		b.Fatal(err)
	}
	var as []models.Attempt
	if err := s.App.DB.NewSelect().Model(&as).Column("delivery_id", "attempted_at").Order("id").Scan(ctx); err != nil {
		b.Fatal(err)
	}
	first := map[string]time.Time{}
	for _, a := range as {
		if _, ok := first[a.DeliveryID]; !ok {
			first[a.DeliveryID] = a.AttemptedAt
		}
	}
	fanOut, sendAt = map[string]time.Time{}, map[string]time.Time{}
	for _, d := range ds {
		var p struct {
			Data struct {
				Name string `json:"name"`
			} `json:"data"`
		}
		at, ok := first[d.ID]
		if json.Unmarshal([]byte(d.Payload), &p) != nil || !ok {
			continue
		}
		fanOut[p.Data.Name], sendAt[p.Data.Name] = d.CreatedAt, at
	}
	return fanOut, sendAt
}
