package runtime_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/models"
)

// trickler serves /slow?org=O&id=I: a binary that never finishes, one byte
// every 100 ms, and counts the downloads in progress by agent and by
// organization.
type trickler struct {
	*httptest.Server
	mu     sync.Mutex
	byID   map[string]int
	byOrg  map[string]int
	mostBy map[string]int // highest count at once, by organization
}

func newTrickler(t *testing.T) *trickler {
	tr := &trickler{byID: map[string]int{}, byOrg: map[string]int{}, mostBy: map[string]int{}}
	tr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		org, id := r.URL.Query().Get("org"), r.URL.Query().Get("id")
		tr.mu.Lock()
		tr.byID[id]++
		tr.byOrg[org]++
		tr.mostBy[org] = max(tr.mostBy[org], tr.byOrg[org])
		tr.mu.Unlock()
		defer func() {
			tr.mu.Lock()
			tr.byID[id]--
			tr.byOrg[org]--
			tr.mu.Unlock()
		}()
		w.Header().Set("Content-Length", "1000000")
		w.Write([]byte("#!")) //nolint:errcheck // the client may be gone
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
				if _, err := w.Write([]byte("#")); err != nil {
					return
				}
			}
		}
	}))
	t.Cleanup(tr.Close) // after the Managers, which cancel their downloads
	return tr
}

func (tr *trickler) url(org, id string) string {
	return fmt.Sprintf("%s/slow?org=%s&id=%s", tr.URL, org, id)
}

func (tr *trickler) counts(org, id string) (byOrg, byID, most int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.byOrg[org], tr.byID[id], tr.mostBy[org]
}

// TestSlowDownloadsStayInTheirOrganization: one organization's downloads
// that never finish hold neither the reconcile workers nor every download
// slot, so another organization's agent gets to running; a stop or delete
// of an agent whose binary is downloading takes effect at once and ends
// the download.
func TestSlowDownloadsStayInTheirOrganization(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *bun.DB) {
		tr := newTrickler(t)
		e := newTestEnv(t, d)
		e.cfg.FetchTimeout = 2 * time.Minute
		e.cfg.FetchMinRate, e.cfg.FetchRateWindow = 1, time.Minute // a trickle is fast enough here
		e.cfg.MaxDownloads, e.cfg.MaxDownloadsPerOrg = 3, 2
		m := e.start()

		// More slow agents than reconcile workers and download slots.
		var slow []*models.Agent
		for i := range 6 {
			name := fmt.Sprintf("slow-%d", i)
			slow = append(slow, e.createAgent(m, name, tr.url("a", name), 1, nil))
		}
		apitest.Eventually(t, 20*time.Second, "the runtime", func() bool { n, _, _ := tr.counts("a", ""); return n == 2 },
			func() string { n, _, _ := tr.counts("a", ""); return fmt.Sprintf("%d downloads of org a, want 2", n) })

		other := insertOrg(t, d)
		fast := e.createAgent(m, "fast", binaries.URL+"/agent", 1, nil, func(a *models.Agent) { a.OrgID = other.ID })
		e.waitStatus(fast.ID, models.AgentRunning)
		waitReplicasUp(t, m, fast.ID, 1)
		if _, _, most := tr.counts("a", ""); most > 2 {
			t.Errorf("org a had %d downloads at once, want at most 2", most)
		}

		// One of the two downloading and one still waiting for a slot.
		var downloading, waiting *models.Agent
		for _, a := range slow {
			if _, n, _ := tr.counts("a", a.Name); n == 1 && downloading == nil {
				downloading = a
			} else if n == 0 && waiting == nil {
				waiting = a
			}
		}
		for _, a := range []*models.Agent{downloading, waiting} {
			e.update(m, a.ID, func(a *models.Agent) { a.Desired = models.DesiredStopped })
			e.waitStatus(a.ID, models.AgentStopped)
		}
		apitest.Eventually(t, 20*time.Second, "the runtime", func() bool { _, n, _ := tr.counts("a", downloading.Name); return n == 0 },
			func() string { return "the stopped agent's download goes on" })

		// A slot freed by the stop goes to the next agent of the organization.
		apitest.Eventually(t, 20*time.Second, "the runtime", func() bool { n, _, _ := tr.counts("a", ""); return n == 2 },
			func() string { n, _, _ := tr.counts("a", ""); return fmt.Sprintf("%d downloads of org a, want 2", n) })
		var deleted *models.Agent
		for _, a := range slow {
			if _, n, _ := tr.counts("a", a.Name); n == 1 {
				deleted = a
				break
			}
		}
		deleteAgent(t, e, m, deleted.ID)
		apitest.Eventually(t, 20*time.Second, "the runtime", func() bool { _, n, _ := tr.counts("a", deleted.Name); return n == 0 },
			func() string { return "the deleted agent's download goes on" })

		for _, a := range slow {
			if a == downloading || a == waiting || a == deleted {
				continue
			}
			if got := e.agent(a.ID); got.Status != models.AgentDeploying {
				t.Errorf("%s is %s (%s) while its binary downloads", a.Name, got.Status, got.StatusReason)
			}
		}
	})
}

// TestTricklingDownloadAborted: a download slower than the minimum rate
// over a window ends in error, saying so in the status and the log.
func TestTricklingDownloadAborted(t *testing.T) {
	forEachDB(t, func(t *testing.T, d *bun.DB) {
		tr := newTrickler(t)
		e := newTestEnv(t, d)
		e.cfg.FetchTimeout = 2 * time.Minute
		e.cfg.FetchMinRate, e.cfg.FetchRateWindow = 1000, 300*time.Millisecond
		m := e.start()
		a := e.createAgent(m, "trickle", tr.url("a", "trickle"), 1, nil)
		got := e.waitStatus(a.ID, models.AgentError)
		if !strings.Contains(got.StatusReason, "slower than 1000 bytes/s") {
			t.Errorf("reason = %q", got.StatusReason)
		}
		if line := e.waitLog(a.ID, "Fetching binary failed: download: slower than 1000 bytes/s"); line.Level != models.LevelError {
			t.Errorf("log line = %+v", line)
		}
		apitest.Eventually(t, 20*time.Second, "the runtime", func() bool { _, n, _ := tr.counts("a", "trickle"); return n == 0 },
			func() string { return "the aborted download goes on" })
	})
}
