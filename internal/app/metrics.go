package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/telemetry"
	"github.com/neuais/neuais/models"
	"github.com/neuais/neuais/rest"
)

// newRefusals counts the requests the rate limit answered with 429.
func newRefusals(reg prometheus.Registerer) (prometheus.Counter, error) {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: telemetry.Namespace, Name: "rate_limit_refusals_total",
		Help: "HTTP requests (429) and WebSocket operations refused for going over their rate limit.",
	})
	return c, reg.Register(c)
}

// registerMetrics registers what is read on each scrape: the database
// pool, the bus, the webhook outbox and the runtime.
func (a *App) registerMetrics() error {
	cs := []prometheus.Collector{
		collectors.NewDBStatsCollector(a.DB.DB, a.DB.Dialect().Name().String()),
		webhookQueue{a},
	}
	if bus, ok := a.Bus.(events.StatsSource); ok {
		cs = append(cs, events.Collector(bus))
	}
	var errs []error
	for _, c := range cs {
		errs = append(errs, a.Registry.Register(c))
	}
	return errors.Join(errs...)
}

var (
	webhookPending = prometheus.NewDesc("neuais_webhook_queue_depth", "Webhook deliveries pending, due or waiting to retry.", nil, nil)
	webhookDue     = prometheus.NewDesc("neuais_webhook_queue_due", "Pending webhook deliveries whose time has come.", nil, nil)
	webhookLag     = prometheus.NewDesc("neuais_webhook_queue_lag_seconds", "How long the oldest due delivery has waited past its time.", nil, nil)
)

// webhookQueueTimeout bounds the outbox query of one scrape.
const webhookQueueTimeout = 2 * time.Second

// webhookQueue reads the outbox's figures (one indexed aggregate) on scrape.
type webhookQueue struct{ a *App }

func (webhookQueue) Describe(ch chan<- *prometheus.Desc) {
	ch <- webhookPending
	ch <- webhookDue
	ch <- webhookLag
}

func (q webhookQueue) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), webhookQueueTimeout)
	defer cancel()
	st, err := q.a.Webhooks.Stats(ctx)
	if err != nil {
		// The scrape answers 500 naming it, rather than reporting a wrong 0.
		ch <- prometheus.NewInvalidMetric(webhookPending, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(webhookPending, prometheus.GaugeValue, float64(st.Pending))
	ch <- prometheus.MustNewConstMetric(webhookDue, prometheus.GaugeValue, float64(st.Due))
	ch <- prometheus.MustNewConstMetric(webhookLag, prometheus.GaugeValue, st.Lag.Seconds())
}

// MetricsHandler serves the registry in the Prometheus text format, to
// anyone: NEUAIS_METRICS_ADDR serves it as is.
func (a *App) MetricsHandler() http.Handler { return telemetry.Handler(a.Registry) }

// adminMetrics serves /metrics on the API port to admins only: the
// series name routes and counts, which callers of the API need not see.
func (a *App) adminMetrics(w http.ResponseWriter, r *http.Request) {
	if _, err := models.RequireAdmin(r.Context()); err != nil {
		var coded *models.Error
		if !errors.As(err, &coded) {
			coded = models.Errorf(models.CodeInternal, "internal server error")
		}
		rest.WriteError(w, coded)
		return
	}
	a.MetricsHandler().ServeHTTP(w, r)
}

// serveMetrics serves MetricsHandler on NEUAIS_METRICS_ADDR until ctx ends.
func (a *App) serveMetrics(ctx context.Context, ln net.Listener) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.MetricsHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	stop := context.AfterFunc(ctx, func() { _ = srv.Close() })
	defer stop()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("app: metrics listener: %w", err)
	}
	return nil
}
