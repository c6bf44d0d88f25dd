package console_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
)

// openSignedIn opens path on the dashboard with the admin's token in the
// tab's session storage, as after a sign-in.
func openSignedIn(t testing.TB, b *browser, s *apitest.Server, path string) {
	t.Helper()
	b.run(t, "sign in", chromedp.Navigate(s.URL+"/"))
	eval[bool](t, b, `sessionStorage.setItem('neuais.token', `+js(s.AdminToken)+`), true`)
	b.run(t, "open "+path, chromedp.Navigate(s.URL+path), chromedp.Reload())
}

// BenchmarkDashboard reports, with 1,000 agents, the dashboard's first
// contentful paint, the time until the table lists them all, a filter's
// time to redraw, and the delay from a scale through the API to the new
// replica count in the table (the op):
//
//	go test -run x -bench Dashboard -benchtime 20x ./test/console
func BenchmarkDashboard(b *testing.B) {
	t := testing.TB(b)
	s := apitest.Start(t, "sqlite:"+t.TempDir()+"/test.db")
	for i := 0; i < 1000; i += 20 {
		var q strings.Builder
		q.WriteString("mutation {")
		for j := i; j < i+20; j++ {
			fmt.Fprintf(&q, ` a%d: createAgent(input: {name: "agent-%04d", runtime: "go", binaryUrl: "https://example.com/a"}) { id }`, j, j)
		}
		q.WriteString("}")
		if res := s.GraphQL(s.AdminToken, q.String(), nil); len(res.Errors) > 0 {
			t.Fatalf("create: %v", res.Errors)
		}
	}
	first := s.Do(http.MethodGet, "/v1/agents?name_prefix=agent-0000&fields=id", s.AdminToken, nil).JSON(t)["agents"].([]any)[0].(map[string]any)["id"].(string)
	br := newBrowser(t, s.URL)
	openSignedIn(t, br, s, "/#/agents")
	br.waitJS(t, "all listed", `document.querySelector('[role=status]')?.textContent.startsWith('1000 of 1000')`)
	listed := eval[float64](t, br, `performance.now()`)
	fcp := eval[float64](t, br, `performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? -1`)
	filter := eval[float64](t, br, `new Promise(done => {
		const input = document.querySelector('input[type=search]');
		const t0 = performance.now();
		input.value = 'agent-09';
		input.dispatchEvent(new Event('input', { bubbles: true }));
		const check = () => document.querySelector('[role=status]')?.textContent.startsWith('100 of')
			? done(performance.now() - t0) : requestAnimationFrame(check);
		check();
	})`)
	eval[bool](t, br, `(() => { const i = document.querySelector('input[type=search]'); i.value = ''; i.dispatchEvent(new Event('input', { bubbles: true })); return true; })()`)
	br.waitJS(t, "all listed", `document.querySelector('[role=status]')?.textContent.startsWith('1000 of 1000')`)

	var delays time.Duration
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		replicas := 2 + n%2
		start := time.Now()
		if res := s.Do(http.MethodPost, "/v1/agents/"+first+"/scale", s.AdminToken, map[string]int{"replicas": replicas}); res.Status != http.StatusOK {
			t.Fatalf("scale: %d %s", res.Status, res.Body)
		}
		br.waitJS(t, "replicas shown", fmt.Sprintf(`document.querySelector('tr[data-agent="agent-0000"] .replicas').textContent === '%d'`, replicas))
		delays += time.Since(start)
	}
	b.StopTimer()
	b.ReportMetric(fcp, "first-paint-ms")
	b.ReportMetric(listed, "1000-listed-ms")
	b.ReportMetric(filter, "filter-ms")
	b.ReportMetric(float64(delays.Milliseconds())/float64(b.N), "update-ms/op")
	br.check(t)
}

// BenchmarkLogTail reports the frames per second of the agent page while
// its agent prints about 1,000 lines a second, and the delay from a line's
// timestamp to its drawing:
//
//	go test -run x -bench LogTail -benchtime 1x ./test/console
func BenchmarkLogTail(b *testing.B) {
	t := testing.TB(b)
	s := apitest.Start(t, "sqlite:"+t.TempDir()+"/test.db", func(c *config.Config) {
		c.RuntimeDriver = config.RuntimeLocal
		c.AllowFileURLs = true
	})
	res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, map[string]any{
		"name": "loud", "runtime": "go", "binary_url": "file://" + agentPath, "environment": map[string]string{"TICK_MS": "1"},
	})
	if res.Status != http.StatusCreated {
		t.Fatalf("create agent: %d %s", res.Status, res.Body)
	}
	id := res.JSON(t)["id"].(string)
	br := newBrowser(t, s.URL)
	openSignedIn(t, br, s, "/#/agents/"+id)
	br.waitJS(t, "log lines", `document.querySelectorAll('.logview .line').length > 10`)
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		r := eval[map[string]float64](t, br, `new Promise(done => {
			let frames = 0, lag = 0, samples = 0;
			const t0 = performance.now();
			const tick = () => {
				frames++;
				const last = [...document.querySelectorAll('.logview .line .muted')].pop();
				if (last) {
					const [h, m, s] = last.textContent.split(':');
					const d = new Date(); d.setUTCHours(+h, +m, 0, 0);
					lag += Date.now() - (d.getTime() + s * 1000); samples++;
				}
				if (performance.now() - t0 < 3000) requestAnimationFrame(tick);
				else done({ fps: frames / 3, lagMs: lag / samples });
			};
			requestAnimationFrame(tick);
		})`)
		b.ReportMetric(r["fps"], "fps")
		b.ReportMetric(r["lagMs"], "line-to-screen-ms")
	}
	b.StopTimer()
	br.check(t)
}
