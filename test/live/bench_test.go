package live_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkSSEFollowers is the load: one real agent writing 1,000
// lines per second, 200 clients following its log over REST SSE
// (follow=true), for b.N seconds. It reports the delivery latency from the
// line's timestamp (taken when the runtime captured it) to a client
// parsing it, the lines lost (gaps in a follower's event ids), followers
// dropped for falling behind, and the live heap while all streams run.
//
//	go test ./test/live -run '^$' -bench SSEFollowers -benchtime 5x
func BenchmarkSSEFollowers(b *testing.B) {
	const followers = 200
	s := start(b, "sqlite:"+b.TempDir()+"/bench.db")
	id := createAgent(b, s, "firehose", map[string]string{"TICK_MS": "1"})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, MaxIdleConnsPerHost: followers}}
	type result struct {
		latencies []time.Duration
		ids       []int64
		ended     string
	}
	results := make([]result, followers)
	var wg sync.WaitGroup
	ready := make(chan struct{}, followers)
	for f := range followers {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v1/agents/"+id+"/logs?follow=true&tail=0", nil)
			req.Header.Set("Authorization", "Bearer "+s.AdminToken)
			res, err := client.Do(req)
			if err != nil {
				results[f].ended = err.Error()
				ready <- struct{}{}
				return
			}
			defer res.Body.Close()
			ready <- struct{}{}
			sc := bufio.NewScanner(res.Body)
			r := &results[f]
			for sc.Scan() {
				if ctx.Err() != nil {
					return // the end: a read cut short returns a partial last line
				}
				line := sc.Text()
				if v, ok := strings.CutPrefix(line, "id: "); ok {
					n, err := strconv.ParseInt(v, 10, 64)
					if err != nil || len(r.ids) > 0 && n <= r.ids[len(r.ids)-1] {
						r.ended = fmt.Sprintf("event id %q after %v", v, r.ids[max(len(r.ids)-3, 0):])
						return
					}
					r.ids = append(r.ids, n)
				} else if v, ok := strings.CutPrefix(line, `data: {"timestamp":"`); ok {
					end := strings.IndexByte(v, '"')
					at, err := time.Parse(time.RFC3339Nano, v[:max(end, 0)])
					if err != nil {
						r.ended = "bad event " + line
						return
					}
					r.latencies = append(r.latencies, time.Since(at))
				} else if strings.HasPrefix(line, "event: error") {
					r.ended = "error event"
				}
			}
		})
	}
	for range followers {
		<-ready
	}
	runtime.GC()
	b.ResetTimer()
	time.Sleep(time.Duration(b.N) * time.Second) // the load runs for b.N seconds
	b.StopTimer()
	// Live heap with every stream still open: the server's (and these
	// clients' result arrays, about 16 bytes per delivery).
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	cancel()
	wg.Wait()

	var all []time.Duration
	lost, dropped, delivered := 0, 0, 0
	for _, r := range results {
		if r.ended != "" && r.ended != "context canceled" {
			b.Logf("follower ended: %s", r.ended)
			dropped++
			continue
		}
		delivered += len(r.ids)
		all = append(all, r.latencies...)
		for i := 1; i < len(r.ids); i++ {
			lost += int(r.ids[i] - r.ids[i-1] - 1) // one agent: its line ids are consecutive
		}
	}
	if len(all) == 0 {
		b.Fatal("no line delivered")
	}
	slices.Sort(all)
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lost), "lost")
	b.ReportMetric(float64(dropped), "dropped-followers")
	b.ReportMetric(float64(delivered)/float64(b.N), "deliveries/s")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
}
