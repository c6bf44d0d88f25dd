package live_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/models"
)

// scrape is one /metrics answer as the Prometheus text parser reads it.
type scrape map[string]*dto.MetricFamily

func scrapeMetrics(t *testing.T, s *apitest.Server) scrape {
	t.Helper()
	res := s.Do(http.MethodGet, "/metrics", s.AdminToken, nil)
	if res.Status != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("/metrics: %d %s %.300s", res.Status, res.Header.Get("Content-Type"), res.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(res.Body))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return families
}

// value sums the series of name whose labels include labels: counters'
// and gauges' values, histograms' sample counts. ok is false when no
// series matches.
func (sc scrape) value(name string, labels ...string) (v float64, ok bool) {
	f := sc[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		ok = true
		switch {
		case m.Counter != nil:
			v += m.Counter.GetValue()
		case m.Gauge != nil:
			v += m.Gauge.GetValue()
		case m.Histogram != nil:
			v += float64(m.Histogram.GetSampleCount())
		}
	}
	return v, ok
}

func hasLabels(m *dto.Metric, labels []string) bool {
	have := map[string]string{}
	for _, l := range m.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for i := 0; i+1 < len(labels); i += 2 {
		if have[labels[i]] != labels[i+1] {
			return false
		}
	}
	return true
}

// TestMetrics generates load of every kind and reads /metrics through
// the Prometheus text parser: each series is there and moved.
func TestMetrics(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url, live, func(c *config.Config) {
			c.RateLimitMin = 0
			c.AnonymousRateLimit = 5
			c.InstanceID = "metrics-test"
		})
		t.Run("RefusesNonAdmins", func(t *testing.T) {
			viewer := s.CreateUser(s.AdminToken, "viewer-metrics@example.com", models.RoleViewer)
			for token, want := range map[string]int{"": http.StatusUnauthorized, viewer.Token: http.StatusForbidden} {
				if res := s.Do(http.MethodGet, "/metrics", token, nil); res.Status != want || strings.Contains(string(res.Body), "neuais_http_requests_total") {
					t.Errorf("token %q: %d %.200s, want %d", token, res.Status, res.Body, want)
				}
			}
		})
		before := scrapeMetrics(t, s)

		// REST, an agent that runs (reconciles, a replica up) and a webhook
		// whose deliveries cannot go out (they wait to retry).
		hook := s.Do(http.MethodPost, "/v1/webhooks", s.AdminToken, map[string]any{"url": "https://neuais-metrics.invalid/hook", "events": []string{"agent.created"}})
		if hook.Status != http.StatusCreated {
			t.Fatalf("create webhook: %d %s", hook.Status, hook.Body)
		}
		id := createAgent(t, s, "metered", nil)
		for range 3 {
			if res := s.Do(http.MethodGet, "/v1/agents/"+id, s.AdminToken, nil); res.Status != http.StatusOK {
				t.Fatalf("get agent: %d %s", res.Status, res.Body)
			}
		}
		// A named GraphQL operation, and one refused by validation.
		if gql := s.GraphQL(s.AdminToken, `query MetricsProbe { services { total } }`, nil); len(gql.Errors) > 0 {
			t.Fatalf("MetricsProbe: %+v", gql.Errors)
		}
		if res := s.Do(http.MethodPost, "/graphql", s.AdminToken, map[string]any{"query": `query Broken { nope }`, "operationName": "Broken"}); !strings.Contains(string(res.Body), `"errors"`) {
			t.Fatalf("Broken: %d %s", res.Status, res.Body)
		}
		// An SSE stream (the agent's logs, followed) held open.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v1/agents/"+id+"/logs?follow=true", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+s.AdminToken)
		follow, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer follow.Body.Close()
		if follow.StatusCode != http.StatusOK {
			t.Fatalf("follow: %d", follow.StatusCode)
		}
		// A WebSocket subscription, open once it is on the bus.
		buses := subscribers(s)
		ws := connect(t, s, s.AdminToken)
		ws.subscribe("1", agentEventsQuery, nil)
		apitest.Eventually(t, 10*time.Second, "the subscription on the bus", func() bool { return subscribers(s) > buses })
		// Anonymous requests past their limit of 5 (the login and the
		// refused scrape were two).
		refused := false
		for range 6 {
			if res := s.Do(http.MethodGet, "/v1/agents", "", nil); res.Status == http.StatusTooManyRequests {
				refused = true
			}
		}
		if !refused {
			t.Fatal("no 429 after 6 anonymous requests")
		}
		// A subscriber that falls behind by three messages, and one dropped.
		lagging, err := s.App.Bus.Subscribe(ctx, "metrics.test.lag", events.WithBuffer(10))
		if err != nil {
			t.Fatal(err)
		}
		defer lagging.Close()
		dropped, err := s.App.Bus.Subscribe(ctx, "metrics.test.drop", events.WithBuffer(1))
		if err != nil {
			t.Fatal(err)
		}
		for _, topic := range []string{"metrics.test.lag", "metrics.test.lag", "metrics.test.lag", "metrics.test.drop", "metrics.test.drop"} {
			if err := s.App.Bus.Publish(ctx, events.Message{Topic: topic, Type: "test", Time: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		for range dropped.C {
		}
		if !errors.Is(dropped.Err(), events.ErrSlowSubscriber) {
			t.Fatalf("the full subscriber was not dropped: %v", dropped.Err())
		}
		apitest.Eventually(t, 10*time.Second, "a webhook delivery pending", func() bool {
			v, _ := scrapeMetrics(t, s).value("neuais_webhook_queue_depth")
			return v >= 1
		})

		after := scrapeMetrics(t, s)
		rose := func(name string, labels ...string) {
			t.Helper()
			was, _ := before.value(name, labels...)
			now, ok := after.value(name, labels...)
			if !ok || now <= was {
				t.Errorf("%s%v: %v before, %v (present %t) after", name, labels, was, now, ok)
			}
		}
		atLeast := func(name string, want float64, labels ...string) {
			t.Helper()
			if v, ok := after.value(name, labels...); !ok || v < want {
				t.Errorf("%s%v = %v (present %t), want at least %v", name, labels, v, ok, want)
			}
		}
		rose("neuais_http_requests_total", "route", "/v1/agents/{id}", "method", "GET", "status", "200")
		rose("neuais_http_requests_total", "route", "/v1/agents", "method", "POST", "status", "201")
		rose("neuais_http_requests_total", "route", "/v1/agents", "method", "GET", "status", "429")
		rose("neuais_http_request_duration_seconds", "route", "/v1/agents/{id}", "method", "GET")
		rose("neuais_graphql_operations_total", "operation", "MetricsProbe", "outcome", "ok")
		rose("neuais_graphql_operations_total", "operation", "Broken", "outcome", "error")
		rose("neuais_rate_limit_refusals_total")
		rose("neuais_reconcile_duration_seconds")
		rose("neuais_bus_dropped_subscribers_total")
		atLeast("neuais_bus_lag_messages", 3)
		atLeast("neuais_bus_max_lag_messages", 3)
		atLeast("neuais_bus_subscribers", 3) // the WebSocket's, the follower's, the lagging one
		atLeast("neuais_graphql_subscriptions_open", 1)
		atLeast("neuais_sse_streams_open", 1)
		atLeast("neuais_replicas", 1, "state", "up")
		atLeast("neuais_webhook_queue_depth", 1)
		atLeast("go_sql_max_open_connections", 0) // 0 is no limit: SQLite's handles are unbounded, its writer is one
		atLeast("go_sql_open_connections", 1)
		atLeast("go_goroutines", 1)
		if _, ok := after.value("neuais_http_requests_total", "route", "/v1/agents/"+id); ok {
			t.Error("a raw path became a route label")
		}

		// Streams that end leave the gauges.
		cancel()
		ws.conn.Close()
		apitest.Eventually(t, 10*time.Second, "the streams closed", func() bool {
			sc := scrapeMetrics(t, s)
			subs, _ := sc.value("neuais_graphql_subscriptions_open")
			sse, _ := sc.value("neuais_sse_streams_open")
			return subs == 0 && sse == 0
		})
	})
}
