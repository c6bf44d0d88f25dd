package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/models"
)

// DefaultInterval is the sampling interval when none is configured
// (NEUAIS_METRICS_INTERVAL).
const DefaultInterval = 10 * time.Second

// UsageReader is what the runtime reports about a running agent: CPU in
// percent of one core summed over replicas, resident memory in MiB, and the
// cumulative bytes through the agent's endpoint since its replicas started.
type UsageReader interface {
	Usage(agentID string) (cpuPercent float64, memoryMiB float64, networkBytes int64)
}

// AgentRef names a running agent and its organization.
type AgentRef struct {
	ID    string
	OrgID string
}

// UsageSource lists the agents to sample and reads their usage.
type UsageSource interface {
	UsageReader
	RunningAgents(ctx context.Context) ([]AgentRef, error)
}

// RunningFromDB is a UsageSource that samples the agents whose status in
// the agents table is running, reading usage from r.
func RunningFromDB(db *bun.DB, r UsageReader) UsageSource { return dbSource{db, r} }

type dbSource struct {
	db *bun.DB
	UsageReader
}

func (d dbSource) RunningAgents(ctx context.Context) ([]AgentRef, error) {
	var refs []AgentRef
	err := d.db.NewSelect().Model((*models.Agent)(nil)).Column("id", "org_id").
		Where("status = ?", models.AgentRunning).Scan(ctx, &refs)
	if err != nil {
		return nil, fmt.Errorf("metrics: running agents: %w", err)
	}
	return refs, nil
}

// Sampler samples every running agent each interval into a Store.
type Sampler struct {
	// PurgeDeleted makes the minutely pruning also delete the buckets of
	// agents no longer in the agents table. Set it before Start.
	PurgeDeleted bool

	store    *Store
	src      UsageSource
	interval time.Duration
	log      *slog.Logger

	mu         sync.Mutex
	network    map[string]int64 // last cumulative byte count per agent
	lastRound  time.Time
	lastErr    error
	lastPruned time.Time
	running    bool
}

// NewSampler returns a sampler; interval ≤ 0 means DefaultInterval.
func NewSampler(store *Store, src UsageSource, interval time.Duration) *Sampler {
	if interval <= 0 {
		interval = DefaultInterval
	}
	return &Sampler{store: store, src: src, interval: interval, log: store.log, network: map[string]int64{}}
}

// Start samples every interval in a goroutine until ctx ends; the
// returned channel is closed when it has stopped.
func (s *Sampler) Start(ctx context.Context) <-chan struct{} {
	s.mu.Lock()
	s.running = true
	s.lastRound = time.Now() // the first round is one interval away
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			s.mu.Lock()
			s.running = false
			s.mu.Unlock()
		}()
		ticker := time.NewTicker(s.interval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			if err := s.SampleOnce(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("sample metrics", "err", err)
			}
		}
	}()
	return done
}

// SampleOnce takes one sample of every running agent, records it, and
// prunes old buckets once a minute.
func (s *Sampler) SampleOnce(ctx context.Context) error {
	err := s.sample(ctx)
	s.mu.Lock()
	s.lastRound, s.lastErr = time.Now(), err
	s.mu.Unlock()
	return err
}

func (s *Sampler) sample(ctx context.Context) error {
	refs, err := s.src.RunningAgents(ctx)
	if err != nil {
		return err
	}
	now := models.Now()
	samples := make([]models.MetricSample, 0, len(refs))
	s.mu.Lock()
	seen := make(map[string]int64, len(refs))
	for _, ref := range refs {
		cpu, mem, total := s.src.Usage(ref.ID)
		// Per-interval bytes from the cumulative counter; a counter that went
		// down belongs to restarted replicas and counts from zero.
		delta := total - s.network[ref.ID]
		if delta < 0 {
			delta = total
		}
		seen[ref.ID] = total
		samples = append(samples, models.MetricSample{
			AgentID: ref.ID, OrgID: ref.OrgID, Timestamp: now, CPU: cpu, Memory: mem, Network: delta,
		})
	}
	s.network = seen // agents no longer running start from zero when they return
	prune := time.Since(s.lastPruned) > time.Minute
	s.mu.Unlock()
	if err := s.store.Record(ctx, samples); err != nil {
		return err
	}
	if prune {
		if err := s.store.Prune(ctx, now); err != nil {
			return err
		}
		if s.PurgeDeleted {
			if err := s.store.PurgeDeleted(ctx); err != nil {
				return err
			}
		}
		s.mu.Lock()
		s.lastPruned = time.Now()
		s.mu.Unlock()
	}
	return nil
}

// Health is the sampler's health.Check: unhealthy when it is not started
// or has not completed a round for three intervals, degraded when the last
// round failed.
func (s *Sampler) Health(context.Context) (health.Status, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.running:
		return health.Unhealthy, "metrics sampler not running"
	case time.Since(s.lastRound) > 3*s.interval+5*time.Second:
		return health.Unhealthy, "no metrics sampled since " + s.lastRound.UTC().Format(time.RFC3339)
	case s.lastErr != nil:
		return health.Degraded, "last sampling failed: " + s.lastErr.Error()
	}
	return health.Healthy, ""
}

// Stream is a followed agent's samples.
type Stream = events.Stream[*models.MetricSample]

// Follow streams the samples of agentID, of organization orgID, as they
// are taken until ctx ends, the agent is deleted (agent.deleted on the
// organization's events, or DeleteAgent) or the bus drops or closes the
// subscription.
func (s *Store) Follow(ctx context.Context, orgID, agentID string) (*Stream, error) {
	return events.FollowAgent(ctx, s.bus, orgID, agentID, events.AgentMetricsTopic(agentID), nil,
		func(m events.Message) (*models.MetricSample, bool) {
			sample, ok := m.Payload.(*models.MetricSample)
			return sample, ok && m.Type == MessageType
		}, events.WithBuffer(events.SampleBuffer))
}
