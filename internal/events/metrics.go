package events

import "github.com/prometheus/client_golang/prometheus"

// StatsSource is a bus that reports its figures (both buses do).
type StatsSource interface{ Stats() Stats }

// Collector exposes a bus's figures, read on every scrape.
func Collector(bus StatsSource) prometheus.Collector { return busCollector{bus} }

var (
	busSubscribers = prometheus.NewDesc("neuais_bus_subscribers", "Subscriptions open on the event bus.", nil, nil)
	busLag         = prometheus.NewDesc("neuais_bus_lag_messages", "Messages published and not yet taken by their subscribers, summed over subscribers.", nil, nil)
	busMaxLag      = prometheus.NewDesc("neuais_bus_max_lag_messages", "The most messages one subscriber has waiting.", nil, nil)
	busDropped     = prometheus.NewDesc("neuais_bus_dropped_subscribers_total", "Subscribers ended for falling behind (their buffer filled).", nil, nil)
)

type busCollector struct{ bus StatsSource }

func (busCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- busSubscribers
	ch <- busLag
	ch <- busMaxLag
	ch <- busDropped
}

func (c busCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.bus.Stats()
	ch <- prometheus.MustNewConstMetric(busSubscribers, prometheus.GaugeValue, float64(st.Subscribers))
	ch <- prometheus.MustNewConstMetric(busLag, prometheus.GaugeValue, float64(st.Lag))
	ch <- prometheus.MustNewConstMetric(busMaxLag, prometheus.GaugeValue, float64(st.MaxLag))
	ch <- prometheus.MustNewConstMetric(busDropped, prometheus.CounterValue, float64(st.Dropped))
}
