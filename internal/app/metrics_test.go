package app_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/app"
)

// TestMetricsListener: NEUAIS_METRICS_ADDR serves /metrics without a
// token, and nothing else, while the server runs.
func TestMetricsListener(t *testing.T) {
	free, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := free.Addr().String()
	free.Close()
	cfg := apitest.Config("", t.TempDir())
	cfg.MetricsAddr = metricsAddr
	a, err := app.New(context.Background(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()

	var res *http.Response
	apitest.Eventually(t, 10*time.Second, "the metrics listener", func() bool {
		res, err = http.Get("http://" + metricsAddr + "/metrics")
		return err == nil
	})
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("%d %v", res.StatusCode, err)
	}
	for _, name := range []string{"go_goroutines", "neuais_sse_streams_open", "neuais_bus_subscribers", "neuais_webhook_queue_depth", "go_sql_open_connections"} {
		if families[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	other, err := http.Get("http://" + metricsAddr + "/v1/agents")
	if err != nil {
		t.Fatal(err)
	}
	other.Body.Close()
	if other.StatusCode != http.StatusNotFound {
		t.Fatalf("the API on the metrics listener: %d", other.StatusCode)
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + metricsAddr + "/metrics"); err == nil {
		t.Fatal("the metrics listener outlived Serve")
	}
}
