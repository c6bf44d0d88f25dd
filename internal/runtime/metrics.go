package runtime

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Replica states as the replicas-by-state series names them.
const (
	replicaUp       = "up"       // running and answering (or past ReadyAfter)
	replicaStarting = "starting" // running, not yet up
	replicaWaiting  = "waiting"  // no process: waiting out a restart delay
)

var replicasDesc = prometheus.NewDesc("neuais_replicas",
	"Agent replicas this instance runs, by state (up, starting, waiting).", []string{"state"}, nil)

// Collector exposes the reconcile durations and the replicas by state.
func (m *Manager) Collector() prometheus.Collector { return managerCollector{m} }

type managerCollector struct{ m *Manager }

func (c managerCollector) Describe(ch chan<- *prometheus.Desc) {
	c.m.reconcileSeconds.Describe(ch)
	ch <- replicasDesc
}

func (c managerCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.reconcileSeconds.Collect(ch)
	counts := map[string]int{replicaUp: 0, replicaStarting: 0, replicaWaiting: 0}
	c.m.mu.Lock()
	ids := make([]string, 0, len(c.m.records))
	for id := range c.m.records {
		ids = append(ids, id)
	}
	c.m.mu.Unlock()
	for _, id := range ids {
		for _, r := range c.m.driver.Replicas(id) {
			switch {
			case r.Up:
				counts[replicaUp]++
			case r.PID != 0:
				counts[replicaStarting]++
			default:
				counts[replicaWaiting]++
			}
		}
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(replicasDesc, prometheus.GaugeValue, float64(n), state)
	}
}

func newReconcileHistogram() prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: "neuais", Name: "reconcile_duration_seconds",
		Help: "Time one agent's reconcile pass took (a binary download runs apart and is not in it).",
		// From a status write to a replica replacement that waits out StopGrace.
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
	})
}

// observeReconcile records a pass that began at start.
func (m *Manager) observeReconcile(start time.Time) {
	m.reconcileSeconds.Observe(time.Since(start).Seconds())
}
