package runtime

import (
	"context"
	"sync"

	"github.com/neuais/neuais/models"
)

// download is one agent's binary download. It runs on its own goroutine,
// holding a download slot but no reconcile worker, so that a slow binary
// URL delays nothing but its own agent; when it ends the agent is queued
// again and its next pass takes the result.
type download struct {
	url, sha string
	cancel   context.CancelFunc
	done     chan struct{} // closed once path and err are set
	path     string
	err      error
}

// finished reports whether the download has ended.
func (d *download) finished() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// downloadSlots bounds the downloads running at once, in all and per
// organization, so that one organization's downloads cannot take every slot.
type downloadSlots struct {
	all    chan struct{}
	perOrg int

	mu   sync.Mutex
	orgs map[string]chan struct{}
}

func newDownloadSlots(total, perOrg int) *downloadSlots {
	return &downloadSlots{all: make(chan struct{}, total), perOrg: perOrg, orgs: map[string]chan struct{}{}}
}

// acquire waits for one of orgID's slots, then for one of all (in this
// order, so that an organization at its limit waits without holding a slot
// of all); release gives both back.
func (s *downloadSlots) acquire(ctx context.Context, orgID string) (release func(), err error) {
	s.mu.Lock()
	org := s.orgs[orgID]
	if org == nil {
		org = make(chan struct{}, s.perOrg)
		s.orgs[orgID] = org
	}
	s.mu.Unlock()
	select {
	case org <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case s.all <- struct{}{}:
	case <-ctx.Done():
		<-org
		return nil, ctx.Err()
	}
	return func() { <-s.all; <-org }, nil
}

// startDownload fetches a's binary in the background.
func (m *Manager) startDownload(a *models.Agent) *download {
	ctx, cancel := context.WithCancel(m.runCtx)
	d := &download{url: a.BinaryURL, sha: a.BinarySHA256, cancel: cancel, done: make(chan struct{})}
	m.fetching.Add(1)
	go func() {
		defer m.fetching.Done()
		defer cancel()
		release, err := m.slots.acquire(ctx, a.OrgID)
		if err == nil {
			d.path, d.err = m.cache.fetch(ctx, a.ID, a.OrgID, a.BinaryID, d.url, d.sha)
			release()
		} else {
			d.err = err
		}
		close(d.done)
		m.Reconcile(a.ID)
	}()
	return d
}

// dropDownload cancels the agent's download, if any; a stop or delete
// takes effect at once instead of waiting for it.
func (rec *agentRecord) dropDownload() *download {
	d := rec.download
	if d != nil {
		d.cancel()
		rec.download = nil
	}
	return d
}
