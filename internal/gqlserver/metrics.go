package gqlserver

import (
	"context"
	"regexp"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"
)

// Metrics counts GraphQL operations by name and outcome and gauges the
// subscriptions open. Operations refused before execution (parse,
// validation, limits) count as errors.
type Metrics struct {
	operations    *prometheus.CounterVec
	subscriptions prometheus.Gauge
}

// NewMetrics registers the GraphQL series in reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "neuais", Name: "graphql_operations_total",
			Help: "GraphQL operations received over HTTP and WebSocket, by operation name and outcome (ok, error); a subscription counts at its first response.",
		}, []string{"operation", "outcome"}),
		subscriptions: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "neuais", Name: "graphql_subscriptions_open",
			Help: "GraphQL subscriptions streaming (WebSocket and SSE).",
		}),
	}
	for _, c := range []prometheus.Collector{m.operations, m.subscriptions} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

var (
	_ graphql.OperationInterceptor = (*Metrics)(nil)
	_ graphql.ResponseInterceptor  = (*Metrics)(nil)
)

func (*Metrics) ExtensionName() string                   { return "Metrics" }
func (*Metrics) Validate(graphql.ExecutableSchema) error { return nil }

// dispatchedKey marks the responses of an operation that was executed, so
// that InterceptResponse counts only those refused before execution.
type dispatchedKey struct{}

// InterceptOperation counts the operation at its first response and holds
// a subscription in the gauge until it ends.
func (m *Metrics) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	name := operationName(oc)
	release := func() {}
	if oc.Operation != nil && oc.Operation.Operation == ast.Subscription {
		m.subscriptions.Inc()
		var once sync.Once
		release = func() { once.Do(m.subscriptions.Dec) }
		// The transport cancels the operation's context when it stops it.
		context.AfterFunc(ctx, release)
	}
	responses := next(ctx)
	var counted sync.Once
	return func(ctx context.Context) *graphql.Response {
		resp := responses(context.WithValue(ctx, dispatchedKey{}, true))
		counted.Do(func() { m.count(name, resp != nil && len(resp.Errors) > 0) })
		if resp == nil {
			release()
		}
		return resp
	}
}

// InterceptResponse counts operations refused before execution.
func (m *Metrics) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if ctx.Value(dispatchedKey{}) == nil {
		name := "anonymous"
		if graphql.HasOperationContext(ctx) {
			name = operationName(graphql.GetOperationContext(ctx))
		}
		m.count(name, true)
	}
	return resp
}

func (m *Metrics) count(name string, failed bool) {
	outcome := "ok"
	if failed {
		outcome = "error"
	}
	m.operations.WithLabelValues(name, outcome).Inc()
}

// boundedName keeps the operation label's cardinality in check: clients
// choose names, so odd or long ones share one series.
var boundedName = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

func operationName(oc *graphql.OperationContext) string {
	name := oc.OperationName
	if name == "" && oc.Operation != nil {
		name = oc.Operation.Name
	}
	switch {
	case name == "":
		return "anonymous"
	case !boundedName.MatchString(name):
		return "other"
	}
	return name
}
