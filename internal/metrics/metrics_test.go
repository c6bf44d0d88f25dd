package metrics_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/internal/metrics"
	"github.com/neuais/neuais/models"
)

func sample(agentID string, at time.Time, cpu, mem float64, net int64) models.MetricSample {
	return models.MetricSample{AgentID: agentID, OrgID: "org_1", Timestamp: at, CPU: cpu, Memory: mem, Network: net}
}

func TestStore_QueryPeriods(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		db := apitest.MustOpenDB(t, url)
		ctx := context.Background()
		store := metrics.NewStore(db, events.NewInProcess(0), nil)
		now := time.Date(2026, 11, 29, 12, 0, 30, 0, time.UTC)
		var samples []models.MetricSample
		// Two samples in each of the last three minutes, one 2 hours ago
		// and one 3 days ago.
		for m := range 3 {
			at := now.Truncate(time.Minute).Add(-time.Duration(m) * time.Minute)
			samples = append(samples,
				sample("agt_a", at.Add(10*time.Second), 10, 100, 1000),
				sample("agt_a", at.Add(20*time.Second), 30, 300, 500))
		}
		samples = append(samples,
			sample("agt_a", now.Add(-2*time.Hour), 50, 500, 7),
			sample("agt_a", now.Add(-72*time.Hour), 70, 700, 9),
			sample("agt_b", now, 99, 99, 99))
		if err := store.Record(ctx, samples); err != nil {
			t.Fatal(err)
		}

		hour, err := store.Query(ctx, "agt_a", metrics.Periods["1h"], "", now)
		if err != nil {
			t.Fatal(err)
		}
		if len(hour.CPU) != 3 || len(hour.Memory) != 3 || len(hour.Network) != 3 {
			t.Fatalf("1h = %+v, want 3 minute points per series", hour)
		}
		for i, p := range hour.CPU {
			wantAt := now.Truncate(time.Minute).Add(time.Duration(i-2) * time.Minute)
			if !p.Timestamp.Equal(wantAt) || p.Value != 20 {
				t.Fatalf("1h cpu[%d] = %+v, want %v avg 20", i, p, wantAt)
			}
			if hour.Memory[i].Value != 200 || hour.Network[i].Value != 1500 {
				t.Fatalf("1h point %d: memory %v (want avg 200), network %v (want sum 1500)", i, hour.Memory[i].Value, hour.Network[i].Value)
			}
		}

		day, _ := store.Query(ctx, "agt_a", metrics.Periods["24h"], models.MetricCPU, now)
		if day.Memory != nil || day.Network != nil {
			t.Fatalf("metric=cpu returned other series: %+v", day)
		}
		// 10:00 holds the sample of two hours ago; 11:45 the minutes 11:58
		// and 11:59; 12:00 the current minute.
		if len(day.CPU) != 3 || day.CPU[0].Value != 50 || day.CPU[1].Value != 20 || day.CPU[2].Value != 20 ||
			!day.CPU[1].Timestamp.Equal(time.Date(2026, 11, 29, 11, 45, 0, 0, time.UTC)) {
			t.Fatalf("24h cpu = %+v", day.CPU)
		}

		week, _ := store.Query(ctx, "agt_a", metrics.Periods["7d"], models.MetricNetwork, now)
		want := []float64{9, 7, 3000, 1500}
		if len(week.Network) != len(want) {
			t.Fatalf("7d network = %+v, want hourly sums %v", week.Network, want)
		}
		for i, p := range week.Network {
			if p.Value != want[i] || p.Timestamp.Minute() != 0 {
				t.Fatalf("7d network = %+v, want hourly sums %v", week.Network, want)
			}
		}

		if err := store.Prune(ctx, now.Add(26*time.Hour)); err != nil {
			t.Fatal(err)
		}
		later, _ := store.Query(ctx, "agt_a", metrics.Periods["24h"], "", now.Add(26*time.Hour))
		if len(later.CPU) != 0 || later.CPU == nil {
			t.Fatalf("minute buckets survived pruning: %+v", later.CPU)
		}
		weekLater, _ := store.Query(ctx, "agt_a", metrics.Periods["7d"], "", now.Add(26*time.Hour))
		if len(weekLater.CPU) != 4 {
			t.Fatalf("hour buckets pruned too early: %+v", weekLater.CPU)
		}

		if err := store.DeleteAgent(ctx, "agt_a"); err != nil {
			t.Fatal(err)
		}
		gone, _ := store.Query(ctx, "agt_a", metrics.Periods["7d"], "", now)
		if len(gone.CPU) != 0 {
			t.Fatalf("deleted agent still has buckets: %+v", gone)
		}
	})
}

// usage is a UsageSource whose figures the test sets. When networkSteps
// is set, each Usage call moves the network counter to its next value, so
// every sample sees its own figure whatever the scheduling.
type usage struct {
	mu           sync.Mutex
	running      []metrics.AgentRef
	cpu          float64
	network      int64
	networkSteps []int64
}

func (u *usage) RunningAgents(context.Context) ([]metrics.AgentRef, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.running, nil
}

func (u *usage) Usage(string) (float64, float64, int64) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.networkSteps) > 0 {
		u.network, u.networkSteps = u.networkSteps[0], u.networkSteps[1:]
	}
	return u.cpu, 64, u.network
}

func TestSampler_RecordsPublishesAndReportsHealth(t *testing.T) {
	db := apitest.MustOpenDB(t, "sqlite:"+filepath.Join(t.TempDir(), "test.db"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bus := events.NewInProcess(0)
	store := metrics.NewStore(db, bus, nil)
	// The counter grows by 500 a sample, then drops to 100 when the
	// replicas restart.
	src := &usage{running: []metrics.AgentRef{{ID: "agt_a", OrgID: "org_1"}}, cpu: 12.5, networkSteps: []int64{1000, 1500, 2000, 100, 600, 1100}}
	sampler := metrics.NewSampler(store, src, 10*time.Millisecond)

	if status, _ := sampler.Health(ctx); status != health.Unhealthy {
		t.Fatalf("health before Run = %s", status)
	}
	stream, err := store.Follow(ctx, "org_1", "agt_a")
	if err != nil {
		t.Fatal(err)
	}
	stopped := sampler.Start(ctx)

	var got []*models.MetricSample
	for s := range stream.C {
		got = append(got, s)
		if len(got) == 5 {
			break
		}
	}
	if got[0].Network != 1000 || got[0].CPU != 12.5 || got[0].Memory != 64 {
		t.Fatalf("first sample = %+v", got[0])
	}
	// Each later sample carries the bytes since the previous one, and a
	// counter that went down counts from zero.
	for i, want := range []int64{500, 500, 100, 500} {
		if got[i+1].Network != want {
			t.Fatalf("sample %d network = %d, want %d", i+1, got[i+1].Network, want)
		}
	}
	if status, detail := sampler.Health(ctx); status != health.Healthy {
		t.Fatalf("health while running = %s %s", status, detail)
	}
	series, err := store.Query(ctx, "agt_a", metrics.Periods["1h"], "", time.Now())
	if err != nil || len(series.CPU) == 0 || series.CPU[len(series.CPU)-1].Value != 12.5 {
		t.Fatalf("1h series = %+v, %v", series, err)
	}

	if err := store.DeleteAgent(ctx, "agt_a"); err != nil {
		t.Fatal(err)
	}
	for range stream.C {
	}
	if !errors.Is(stream.Err(), events.ErrAgentDeleted) {
		t.Fatalf("stream Err = %v, want ErrAgentDeleted", stream.Err())
	}
	cancel()
	<-stopped
	if status, _ := sampler.Health(context.Background()); status != health.Unhealthy {
		t.Fatalf("health after stop = %s", status)
	}
}

func TestRunningFromDB(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		db := apitest.MustOpenDB(t, url)
		ctx := context.Background()
		now := models.Now()
		org := &models.Organization{ID: "org_1", Name: "acme", Tier: models.TierFree, RateLimit: 100, CreatedAt: now}
		if _, err := db.NewInsert().Model(org).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		for id, status := range map[string]models.AgentStatus{"agt_run": models.AgentRunning, "agt_stop": models.AgentStopped} {
			a := &models.Agent{ID: id, OrgID: "org_1", Name: id, Runtime: "go", Region: "local", BinaryURL: "file:///x",
				CPU: "1", Memory: "1Gi", Replicas: 1, Environment: map[string]string{}, Desired: models.DesiredRunning,
				Status: status, CreatedAt: now, UpdatedAt: now}
			if _, err := db.NewInsert().Model(a).Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		refs, err := metrics.RunningFromDB(db, &usage{}).RunningAgents(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(refs) != 1 || refs[0] != (metrics.AgentRef{ID: "agt_run", OrgID: "org_1"}) {
			t.Fatalf("running = %+v", refs)
		}
	})
}

func TestParse(t *testing.T) {
	if p, err := metrics.ParsePeriod("period", ""); err != nil || p.Name != "1h" {
		t.Fatalf("default period = %+v, %v", p, err)
	}
	for _, bad := range []string{"2h", "1d", "week"} {
		_, err := metrics.ParsePeriod("period", bad)
		var e *models.Error
		if !errors.As(err, &e) || e.Field != "period" {
			t.Errorf("ParsePeriod(%q) = %v", bad, err)
		}
	}
	if _, err := metrics.ParseMetric("metric", "disk"); models.ErrorCode(err) != models.CodeInvalidRequest {
		t.Errorf("ParseMetric(disk) = %v", err)
	}
}
