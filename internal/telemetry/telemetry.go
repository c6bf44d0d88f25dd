// Package telemetry holds the Prometheus side of the platform: the
// registry an app owns, the HTTP middleware that records requests and open
// Server-Sent Event streams, and the /metrics handler. Components that
// record their own figures are handed the registry.
package telemetry

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes the platform's own series.
const Namespace = "neuais"

// NewRegistry returns a registry with the Go runtime and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Handler serves reg in the Prometheus text format.
func Handler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}

// HTTP records requests by chi route pattern, method and status, and the
// Server-Sent Event streams open.
type HTTP struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	streams  prometheus.Gauge
}

// NewHTTP registers the HTTP series in reg.
func NewHTTP(reg prometheus.Registerer) (*HTTP, error) {
	h := &HTTP{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace, Name: "http_requests_total",
			Help: "HTTP requests answered, by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace, Name: "http_request_duration_seconds",
			Help:    "Time from a request's arrival to its handler's return, by route pattern and method (streams: their whole life).",
			Buckets: prometheus.DefBuckets,
		}, []string{"route", "method"}),
		streams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace, Name: "sse_streams_open",
			Help: "Server-Sent Event responses being streamed (REST follow=true and GraphQL over SSE).",
		}),
	}
	for _, c := range []prometheus.Collector{h.requests, h.duration, h.streams} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// unmatched labels requests no route matched, so that probing random
// paths adds no series.
const unmatched = "unmatched"

// knownMethods bounds the method label; anything else is "other".
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// Middleware must run inside a chi router: the route pattern is read from
// the router's context once the handler has returned.
func (h *HTTP) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rw := &recorder{ResponseWriter: w, streams: h.streams}
		defer func() {
			if rw.streaming {
				h.streams.Dec()
			}
		}()
		next.ServeHTTP(rw, r)
		method := r.Method
		if !knownMethods[method] {
			method = "other"
		}
		route := routeOf(r)
		h.requests.WithLabelValues(route, method, strconv.Itoa(rw.statusCode())).Inc()
		h.duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
	})
}

// routeOf returns the pattern of the route that served r, or would have
// served it when a middleware answered first (a 429), else unmatched.
func routeOf(r *http.Request) string {
	rctx := chi.RouteContext(r.Context())
	if rctx == nil {
		return unmatched
	}
	if p := rctx.RoutePattern(); p != "" {
		return p // a pattern of the route table ("/v1/*" for a miss under /v1)
	}
	if rctx.Routes != nil {
		if p := rctx.Routes.Find(chi.NewRouteContext(), r.Method, r.URL.Path); p != "" {
			return p
		}
	}
	return unmatched
}

func (rw *recorder) statusCode() int {
	if rw.status == 0 {
		return http.StatusOK // nothing written: net/http answers 200
	}
	return rw.status
}

// recorder notes the status and whether the response is an event stream.
type recorder struct {
	http.ResponseWriter
	streams   prometheus.Gauge
	status    int
	streaming bool
}

func (rw *recorder) WriteHeader(code int) {
	if rw.status == 0 {
		rw.status = code
		if code == http.StatusOK && strings.HasPrefix(rw.Header().Get("Content-Type"), "text/event-stream") {
			rw.streaming = true
			rw.streams.Inc()
		}
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	return rw.ResponseWriter.Write(b)
}

func (rw *recorder) Flush() {
	if rw.status == 0 {
		rw.WriteHeader(http.StatusOK)
	}
	_ = http.NewResponseController(rw.ResponseWriter).Flush()
}

// Hijack hands the connection over for WebSocket upgrades; the 101 is
// recorded as the status.
func (rw *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := rw.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("telemetry: the response writer cannot be hijacked")
	}
	if rw.status == 0 {
		rw.status = http.StatusSwitchingProtocols
	}
	return hj.Hijack()
}

// Unwrap lets http.ResponseController reach deadlines and the like.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }
