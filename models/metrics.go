package models

import "time"

// Metric names of the contract's series.
const (
	MetricCPU     = "cpu"
	MetricMemory  = "memory"
	MetricNetwork = "network"
)

// MetricSample is one sampling of a running agent.
type MetricSample struct {
	AgentID   string    `json:"agent_id"`
	OrgID     string    `json:"-"`
	Timestamp time.Time `json:"timestamp"`
	// CPU is in percent of one core, summed over the agent's replicas.
	CPU float64 `json:"cpu"`
	// Memory is the resident memory of all replicas in MiB.
	Memory float64 `json:"memory"`
	// Network is the bytes through the agent's endpoint since the previous sample.
	Network int64 `json:"network"`
}

// MetricPoint is one point of a series: the average over the point's
// interval for cpu and memory, the bytes transferred in it for network.
type MetricPoint struct {
	Timestamp time.Time `json:"timestamp"`
	Value     float64   `json:"value"`
}

// Metrics holds an agent's series over a period, oldest point first; a
// series not asked for is nil.
type Metrics struct {
	CPU     []MetricPoint `json:"cpu,omitempty"`
	Memory  []MetricPoint `json:"memory,omitempty"`
	Network []MetricPoint `json:"network,omitempty"`
}
