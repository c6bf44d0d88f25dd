package live_test

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
)

// BenchmarkIdleSubscriptions opens 10,000 idle GraphQL subscriptions
// (agentEvents over graphql-transport-ws) on a built server from a
// separate process, one per WebSocket and 100 per WebSocket (as a
// graphql-ws client multiplexes), and reports the server's resident
// memory growth per subscription (the bound: 20 KiB).
//
//	go test ./test/live -run '^$' -bench IdleSubscriptions -benchtime 1x
func BenchmarkIdleSubscriptions(b *testing.B) {
	const subscriptions = 10_000
	// Both processes inherit the limit of open files raised to its hard
	// bound, which must leave room for one socket per subscription.
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		b.Fatal(err)
	}
	if limit.Max < subscriptions+1024 {
		b.Fatalf("open files limited to %d: raise the hard limit", limit.Max)
	}
	limit.Cur = limit.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		b.Fatal(err)
	}
	subscribers := filepath.Join(b.TempDir(), "subscribers")
	if out, err := exec.Command("go", "build", "-o", subscribers, "./testdata/subscribers").CombinedOutput(); err != nil {
		b.Fatalf("build subscribers: %v\n%s", err, out)
	}
	for _, per := range []int{1, 100} {
		b.Run(fmt.Sprintf("PerSocket%d", per), func(b *testing.B) { idleSubscriptions(b, subscribers, subscriptions, per) })
	}
}

// idleSubscriptions measures on a server of its own: the memory that
// the runtime keeps after a run would hide the next run's growth.
func idleSubscriptions(b *testing.B, subscribers string, subscriptions, per int) {
	server := apitest.StartProcess(b, []string{
		"PATH=" + os.Getenv("PATH"),
		"NEUAIS_ADDR=127.0.0.1:0",
		"NEUAIS_DATA_DIR=" + b.TempDir(),
		"NEUAIS_ADMIN_EMAIL=" + apitest.AdminEmail,
		"NEUAIS_ADMIN_PASSWORD=" + apitest.AdminPassword,
		"NEUAIS_BCRYPT_COST=4",
		"NEUAIS_LOG_LEVEL=error",
		"NEUAIS_RUNTIME_DRIVER=none",
		"NEUAIS_RATE_LIMIT_MIN=1000000",
		"NEUAIS_MAX_SUBSCRIPTIONS_PER_USER=" + strconv.Itoa(2*subscriptions),
	})
	for b.Loop() {
		before, goroutines := settledRSS(b, server), gauge(b, server, "go_goroutines")
		cmd := exec.Command(subscribers, "-url", "ws"+strings.TrimPrefix(server.Base, "http")+"/graphql",
			"-token", server.Token, "-n", strconv.Itoa(subscriptions), "-per", strconv.Itoa(per))
		stdin, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "open\n" {
			b.Fatalf("subscribers: %q %v", line, err)
		}
		apitest.Eventually(b, time.Minute, "every subscription open on the server", func() bool {
			return gauge(b, server, "neuais_graphql_subscriptions_open") >= float64(subscriptions)
		}, func() string { return fmt.Sprintf("%v open", gauge(b, server, "neuais_graphql_subscriptions_open")) })
		after := settledRSS(b, server)
		b.ReportMetric(float64(after-before)/float64(subscriptions)/1024, "KiB/subscription")
		b.ReportMetric(float64(after)/(1<<20), "server-RSS-MiB")
		b.ReportMetric((gauge(b, server, "go_goroutines")-goroutines)/float64(subscriptions), "goroutines/subscription")
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
	}
}

// settledRSS is the server's resident set once two reads a second apart
// agree within 1 %.
func settledRSS(tb testing.TB, p *apitest.Process) int64 {
	tb.Helper()
	last := rss(tb, p.Cmd.Process.Pid)
	for range 30 {
		time.Sleep(time.Second)
		now := rss(tb, p.Cmd.Process.Pid)
		if d := now - last; d*100 < now && -d*100 < now {
			return now
		}
		last = now
	}
	return last
}

func rss(tb testing.TB, pid int) int64 {
	tb.Helper()
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for line := range bytes.Lines(status) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			kib, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(string(v)), " kB"), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kib * 1024
		}
	}
	tb.Fatal("no VmRSS")
	return 0
}

// gauge reads one unlabelled series of the server's /metrics.
func gauge(tb testing.TB, p *apitest.Process, name string) float64 {
	tb.Helper()
	res := p.Do(tb, http.MethodGet, "/metrics", p.Token, nil)
	if res.Err != nil || res.Status != http.StatusOK {
		tb.Fatalf("/metrics: %d %v", res.Status, res.Err)
	}
	for line := range strings.Lines(string(res.Body)) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				tb.Fatal(err)
			}
			return n
		}
	}
	return 0
}
