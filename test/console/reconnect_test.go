package console_test

import (
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/neuais/neuais/internal/apitest"
)

// cutProxy forwards TCP connections to a server until cut: then it closes
// every connection and refuses new ones until restored, as a network that
// goes away does.
type cutProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]struct{}
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *cutProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.forward(c)
	}
}

func (p *cutProxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(c, up) {
		c.Close()
		if up != nil {
			up.Close()
		}
		return
	}
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

func (p *cutProxy) track(conns ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return false
	}
	for _, c := range conns {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *cutProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// TestLostConnection: when the connection goes, the dashboard shows a
// banner; when it is back, the banner goes and the log tail resumes after
// its last line: it ends up with exactly the agent's lines, none lost and
// none twice.
func TestLostConnection(t *testing.T) {
	chromiumPath(t)
	s := start(t)
	p := newCutProxy(t, strings.TrimPrefix(s.URL, "http://"))
	b := newBrowser(t, p.URL())
	// The agent prints 5 lines a second: the page's first tail (200 lines)
	// holds all it printed before the page opened.
	res := s.Do(http.MethodPost, "/v1/agents", s.AdminToken, map[string]any{
		"name": "reconnect", "runtime": "go", "binary_url": "file://" + agentPath, "environment": map[string]string{"TICK_MS": "200"},
	})
	if res.Status != http.StatusCreated {
		t.Fatalf("create agent: %d %s", res.Status, res.Body)
	}
	id := res.JSON(t)["id"].(string)
	b.run(t, "open dashboard", chromedp.Navigate(p.URL()+"/"))
	signIn(t, b, apitest.AdminEmail, apitest.AdminPassword)
	b.run(t, "open agent", chromedp.Navigate(p.URL()+"/#/agents/"+id), chromedp.WaitVisible(chromedp.CSS(`#agent-title`)))
	b.waitJS(t, "log line", `[...document.querySelectorAll('.logview .line')].some(l => /INFO line \d+/.test(l.textContent))`)
	b.check(t)

	apiLines := func() int {
		res := s.Do(http.MethodGet, "/v1/agents/"+id+"/logs?tail=10000", s.AdminToken, nil)
		return len(res.JSON(t)["logs"].([]any))
	}
	held := `Number(/of (\d+) lines/.exec(document.querySelector('.logs .muted').textContent)[1])`

	p.cut()
	b.waitJS(t, "banner", `document.querySelector('.banner') !== null`)
	b.screenshot(t, "connection-lost")
	// Let the agent print while the page cannot hear it.
	shown := eval[int](t, b, held)
	apitest.Eventually(t, deadline, "lines printed while cut", func() bool { return apiLines() >= shown+10 })
	p.restore()
	b.waitJS(t, "banner gone", `document.querySelector('.banner') === null`)

	if res := s.Do(http.MethodPost, "/v1/agents/"+id+"/stop", s.AdminToken, nil); res.Status != http.StatusOK {
		t.Fatalf("stop: %d %s", res.Status, res.Body)
	}
	if res := s.Do(http.MethodGet, "/v1/agents/"+id+"/wait?status=stopped&timeout=60s", s.AdminToken, nil); res.Status != http.StatusOK {
		t.Fatalf("wait stopped: %d %s", res.Status, res.Body)
	}
	var api, page int
	apitest.Eventually(t, deadline, "the page holds every line once", func() bool {
		api, page = apiLines(), eval[int](t, b, held)
		return page == api
	})
	// The page logged its failed requests and WebSocket attempts while the
	// network was cut: those are the test's doing.
	b.allow("WebSocket connection to", "net::ERR_")
	b.check(t)
	t.Logf("%d lines, as many in the page as in the API", api)
}
