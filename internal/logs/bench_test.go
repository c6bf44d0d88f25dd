package logs_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/logs"
	"github.com/neuais/neuais/models"
)

// BenchmarkIngestSQLite measures how fast appended lines reach an SQLite
// file with batching: b.N lines appended, then everything flushed.
//
//	go test ./internal/logs -run '^$' -bench IngestSQLite -benchtime 200000x
func BenchmarkIngestSQLite(b *testing.B) {
	db := apitest.MustOpenDB(b, "sqlite:"+filepath.Join(b.TempDir(), "test.db"))
	s, err := logs.Open(context.Background(), db, events.NewInProcess(0), testLogsConfig(func(c *logs.Config) { c.MaxQueueBytes = int64(b.N+1) * 1024; c.RateLines = 1e12; c.RateBytes = 1e15 }), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	msg := "GET /v1/things 200 1.2ms request_id=8f14e45fceea167a5a36dedd4bea2543"
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		s.Append(models.LogLine{AgentID: "agt_bench", OrgID: "org_bench", Replica: 1 + i%3, Level: models.LevelInfo, Message: msg})
	}
	if err := s.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "lines/s")
	if st := s.Stats(); st.Dropped != 0 || st.RateLimited != 0 || st.Pending != 0 {
		b.Fatalf("stats after flush = %+v", st)
	}
}

// BenchmarkFollowers is one agent writing 1,000 lines per second to 200
// followers (200,000 deliveries per second) through the store and the
// in-process bus; one op is one line. It reports the delivery latency from
// Append to a follower, lines lost (must be 0: the followers keep up) and
// the heap the store, bus and followers hold while they run.
//
//	go test ./internal/logs -run '^$' -bench Followers -benchtime 10000x
func BenchmarkFollowers(b *testing.B) {
	const followers = 200
	const rate = time.Millisecond // one line per millisecond
	db := apitest.MustOpenDB(b, "sqlite:"+filepath.Join(b.TempDir(), "test.db"))
	s, err := logs.Open(context.Background(), db, events.NewInProcess(0), config.Default().Logs(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	latencies := make([][]time.Duration, followers)
	for f := range followers {
		latencies[f] = make([]time.Duration, 0, b.N)
	}
	received := make([]int, followers)
	baseline := heapInUse()
	var wg sync.WaitGroup
	for f := range followers {
		st, err := s.Follow(ctx, "org_bench", "agt_bench", logs.Filter{})
		if err != nil {
			b.Fatal(err)
		}
		wg.Go(func() {
			for l := range st.C {
				latencies[f] = append(latencies[f], time.Since(l.Timestamp))
				if received[f]++; received[f] == b.N {
					return
				}
			}
			b.Errorf("follower %d ended after %d lines: %v", f, received[f], st.Err())
		})
	}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		// Stamped here so latency covers Append, the bus and the follower.
		s.Append(models.LogLine{AgentID: "agt_bench", OrgID: "org_bench", Replica: 1, Level: models.LevelInfo,
			Message: fmt.Sprintf("line %d", i), Timestamp: time.Now()})
		time.Sleep(time.Until(start.Add(time.Duration(i+1) * rate)))
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		b.Fatal("followers did not receive every line within 30s")
	}
	b.StopTimer()
	heap := heapInUse() - baseline // still subscribed: what the store, bus and followers hold

	var all []time.Duration
	lost := 0
	for f := range followers {
		lost += b.N - received[f]
		all = append(all, latencies[f]...)
	}
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(lost), "lost")
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(b.N*followers)/time.Since(start).Seconds(), "deliveries/s")
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
