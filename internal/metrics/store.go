// Package metrics samples running agents' resource usage, keeps it rolled
// up into minute and hour buckets, answers the contract's period queries
// and streams samples to subscribers.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/models"
)

// MessageType is the events.Message Type of a sample on
// events.AgentMetricsTopic; its Payload is a *models.MetricSample.
const MessageType = events.TypeMetricSample

// Bucket resolutions kept, and how long each is kept: minute buckets serve
// the 1h and 24h periods, hour buckets the 7d period, so an agent holds at
// most about 1,500 + 170 rows however long it runs.
const (
	minute          = time.Minute
	hour            = time.Hour
	minuteRetention = 25 * time.Hour
	hourRetention   = 8 * 24 * time.Hour
)

// bucket is one row of agent_metrics: the sums of the samples taken in
// [Bucket, Bucket+Resolution).
type bucket struct {
	bun.BaseModel `bun:"table:agent_metrics,alias:m"`

	AgentID    string    `bun:"agent_id,pk"`
	OrgID      string    `bun:"org_id,notnull"`
	Resolution int64     `bun:"resolution,pk"` // seconds
	Bucket     time.Time `bun:"bucket,pk"`
	Samples    int64     `bun:"samples,notnull"`
	CPUSum     float64   `bun:"cpu_sum,notnull"`
	MemorySum  float64   `bun:"memory_sum,notnull"`
	NetworkSum int64     `bun:"network_sum,notnull"`
}

// Store keeps samples in their buckets and reads series back.
type Store struct {
	db  *bun.DB
	bus events.Bus
	log *slog.Logger
}

// NewStore returns a store over a migrated database.
func NewStore(db *bun.DB, bus events.Bus, log *slog.Logger) *Store {
	if log == nil {
		log = slog.Default()
	}
	return &Store{db: db, bus: bus, log: log.With("component", "metrics")}
}

// Record adds samples to their minute and hour buckets in one transaction
// and publishes each on events.AgentMetricsTopic.
func (s *Store) Record(ctx context.Context, samples []models.MetricSample) error {
	if len(samples) == 0 {
		return nil
	}
	// Samples sharing a bucket are added up here: PostgreSQL refuses an
	// upsert that touches one row twice.
	type key struct {
		agentID string
		res     time.Duration
		at      time.Time
	}
	index := map[key]int{}
	rows := make([]bucket, 0, 2*len(samples))
	for _, m := range samples {
		for _, res := range []time.Duration{minute, hour} {
			k := key{m.AgentID, res, m.Timestamp.UTC().Truncate(res)}
			if i, ok := index[k]; ok {
				rows[i].Samples++
				rows[i].CPUSum += m.CPU
				rows[i].MemorySum += m.Memory
				rows[i].NetworkSum += m.Network
				continue
			}
			index[k] = len(rows)
			rows = append(rows, bucket{
				AgentID: m.AgentID, OrgID: m.OrgID, Resolution: int64(res / time.Second), Bucket: k.at,
				Samples: 1, CPUSum: m.CPU, MemorySum: m.Memory, NetworkSum: m.Network,
			})
		}
	}
	_, err := s.db.NewInsert().Model(&rows).
		On("CONFLICT (agent_id, resolution, bucket) DO UPDATE").
		Set("samples = m.samples + EXCLUDED.samples").
		Set("cpu_sum = m.cpu_sum + EXCLUDED.cpu_sum").
		Set("memory_sum = m.memory_sum + EXCLUDED.memory_sum").
		Set("network_sum = m.network_sum + EXCLUDED.network_sum").
		Exec(ctx)
	if err != nil {
		return fmt.Errorf("metrics: record: %w", err)
	}
	for i := range samples {
		m := samples[i]
		if err := s.bus.Publish(ctx, events.Message{
			Topic: events.AgentMetricsTopic(m.AgentID), Type: MessageType, Time: m.Timestamp, Payload: &m,
		}); err != nil && !errors.Is(err, events.ErrClosed) {
			s.log.Warn("publish metric sample", "agent_id", m.AgentID, "err", err)
		}
	}
	return nil
}

// Period is a query window and the width of its points.
type Period struct {
	Name   string
	Window time.Duration
	Step   time.Duration
	source time.Duration // resolution of the buckets read
}

// Periods of the contract: 1h of minute points, 24h of 15-minute points,
// 7d of hour points.
var Periods = map[string]Period{
	"1h":  {Name: "1h", Window: time.Hour, Step: minute, source: minute},
	"24h": {Name: "24h", Window: 24 * time.Hour, Step: 15 * minute, source: minute},
	"7d":  {Name: "7d", Window: 7 * 24 * time.Hour, Step: hour, source: hour},
}

// DefaultPeriod is the period of a query that names none.
const DefaultPeriod = "1h"

// ParsePeriod checks a period argument; "" is DefaultPeriod. Errors: invalid_request.
func ParsePeriod(field, period string) (Period, error) {
	if period == "" {
		period = DefaultPeriod
	}
	p, ok := Periods[period]
	if !ok {
		return Period{}, models.Invalid(field, "must be one of 1h, 24h, 7d")
	}
	return p, nil
}

// ParseMetric checks a metric argument; "" means every series. Errors: invalid_request.
func ParseMetric(field, metric string) (string, error) {
	switch metric {
	case "", models.MetricCPU, models.MetricMemory, models.MetricNetwork:
		return metric, nil
	}
	return "", models.Invalid(field, "must be one of cpu, memory, network")
}

// Query returns an agent's series over the period ending now, oldest point
// first, with only metric's series when it is not "". Points exist for the
// intervals in which the agent was sampled.
func (s *Store) Query(ctx context.Context, agentID string, p Period, metric string, now time.Time) (*models.Metrics, error) {
	var rows []bucket
	err := s.db.NewSelect().Model(&rows).
		Where("agent_id = ?", agentID).
		Where("resolution = ?", int64(p.source/time.Second)).
		Where("bucket > ?", now.UTC().Add(-p.Window)).
		OrderExpr("bucket ASC").
		Scan(ctx)
	if err != nil {
		return nil, fmt.Errorf("metrics: query: %w", err)
	}
	// Merge source buckets into points of the period's step.
	var points []bucket
	for _, r := range rows {
		start := r.Bucket.UTC().Truncate(p.Step)
		if n := len(points); n > 0 && points[n-1].Bucket.Equal(start) {
			last := &points[n-1]
			last.Samples += r.Samples
			last.CPUSum += r.CPUSum
			last.MemorySum += r.MemorySum
			last.NetworkSum += r.NetworkSum
			continue
		}
		r.Bucket = start
		points = append(points, r)
	}
	out := &models.Metrics{}
	want := func(name string) bool { return metric == "" || metric == name }
	for _, b := range points {
		if b.Samples == 0 {
			continue
		}
		n := float64(b.Samples)
		if want(models.MetricCPU) {
			out.CPU = append(out.CPU, models.MetricPoint{Timestamp: b.Bucket, Value: b.CPUSum / n})
		}
		if want(models.MetricMemory) {
			out.Memory = append(out.Memory, models.MetricPoint{Timestamp: b.Bucket, Value: b.MemorySum / n})
		}
		if want(models.MetricNetwork) {
			out.Network = append(out.Network, models.MetricPoint{Timestamp: b.Bucket, Value: float64(b.NetworkSum)})
		}
	}
	// A series asked for is an empty list rather than absent.
	if want(models.MetricCPU) && out.CPU == nil {
		out.CPU = []models.MetricPoint{}
	}
	if want(models.MetricMemory) && out.Memory == nil {
		out.Memory = []models.MetricPoint{}
	}
	if want(models.MetricNetwork) && out.Network == nil {
		out.Network = []models.MetricPoint{}
	}
	return out, nil
}

// Prune deletes buckets older than any period reads.
func (s *Store) Prune(ctx context.Context, now time.Time) error {
	for res, keep := range map[time.Duration]time.Duration{minute: minuteRetention, hour: hourRetention} {
		_, err := s.db.NewDelete().Model((*bucket)(nil)).
			Where("resolution = ?", int64(res/time.Second)).
			Where("bucket < ?", now.UTC().Add(-keep)).
			Exec(ctx)
		if err != nil {
			return fmt.Errorf("metrics: prune: %w", err)
		}
	}
	return nil
}

// DeleteAgent removes an agent's buckets and ends its metric streams.
func (s *Store) DeleteAgent(ctx context.Context, agentID string) error {
	_, err := s.db.NewDelete().Model((*bucket)(nil)).Where("agent_id = ?", agentID).Exec(ctx)
	if pubErr := s.bus.Publish(ctx, events.Message{
		Topic: events.AgentMetricsTopic(agentID), Type: events.AgentDeleted, Time: time.Now(),
	}); pubErr != nil && !errors.Is(pubErr, events.ErrClosed) {
		s.log.Warn("publish agent deletion", "agent_id", agentID, "err", pubErr)
	}
	if err != nil {
		return fmt.Errorf("metrics: delete agent: %w", err)
	}
	return nil
}

// PurgeDeleted removes the buckets of agents no longer in the agents table.
func (s *Store) PurgeDeleted(ctx context.Context) error {
	agentIDs := s.db.NewSelect().Model((*models.Agent)(nil)).Column("id")
	if _, err := s.db.NewDelete().Model((*bucket)(nil)).Where("agent_id NOT IN (?)", agentIDs).Exec(ctx); err != nil {
		return fmt.Errorf("metrics: purge deleted agents: %w", err)
	}
	return nil
}
