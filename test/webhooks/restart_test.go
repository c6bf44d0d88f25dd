package webhooks_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/webhooks"
)

// goReceiver records the webhook-ids it accepted, after checking their
// signatures; while down it answers 503.
type goReceiver struct {
	*httptest.Server
	key      []byte
	down     atomic.Bool
	mu       sync.Mutex
	refused  map[string]string // webhook-id → agent id, answered 503
	accepted map[string]string // webhook-id → agent id, answered 204
	bad      []string
}

func newGoReceiver(t *testing.T) *goReceiver {
	rc := &goReceiver{refused: map[string]string{}, accepted: map[string]string{}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
		var p struct {
			Data struct {
				AgentID string `json:"agent_id"`
			} `json:"data"`
		}
		json.Unmarshal(body, &p) //nolint:errcheck // an empty agent id fails the test
		rc.mu.Lock()
		defer rc.mu.Unlock()
		n, _ := strconv.ParseInt(ts, 10, 64)
		if rc.key == nil || webhooks.Signature([][]byte{rc.key}, id, n, body) != r.Header.Get("webhook-signature") {
			rc.bad = append(rc.bad, id)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		if rc.down.Load() {
			rc.refused[id] = p.Data.AgentID
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		rc.accepted[id] = p.Data.AgentID
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *goReceiver) setSecret(t *testing.T, secret string) {
	k, err := webhooks.SigningKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	rc.key = k
	rc.mu.Unlock()
}

func (rc *goReceiver) counts() (refused, accepted int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.refused), len(rc.accepted)
}

// logEvents returns the server's whole event log, newest first.
func logEvents(t *testing.T, p *apitest.Process) []event {
	t.Helper()
	var all []event
	for {
		res := p.Do(t, http.MethodGet, fmt.Sprintf("/v1/events?limit=1000&offset=%d", len(all)), p.Token, nil)
		var page struct {
			Events  []event
			HasMore bool `json:"has_more"`
		}
		if res.Status != 200 || json.Unmarshal(res.Body, &page) != nil {
			t.Fatalf("events: %d %s", res.Status, res.Body)
		}
		all = append(all, page.Events...)
		if !page.HasMore {
			return all
		}
	}
}

// TestKill: the server is killed with SIGKILL while agents are being
// created and their deliveries retried. Every create the client saw
// acknowledged has its event in the log after the restart, and every event
// of the log reaches the receiver, with the webhook-id it had before.
func TestKill(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		if strings.HasPrefix(url, "sqlite:") {
			url = "sqlite:" + filepath.Join(t.TempDir(), "kill.db")
		}
		env := serverEnv(url, t.TempDir())
		rc := newGoReceiver(t)
		rc.down.Store(true)
		p := apitest.StartProcess(t, env)
		res := p.Do(t, http.MethodPost, "/v1/webhooks", p.Token, map[string]any{"url": rc.URL + "/hook", "events": []string{"*"}})
		var w webhook
		if res.Status != 201 || json.Unmarshal(res.Body, &w) != nil {
			t.Fatalf("webhook: %d %s", res.Status, res.Body)
		}
		rc.setSecret(t, w.Secret)

		// Create agents until the kill; remember those acknowledged.
		var acked []string
		created := make(chan struct{})
		go func() {
			defer close(created)
			for i := 0; ; i++ {
				res := p.Do(t, http.MethodPost, "/v1/agents", p.Token, map[string]any{
					"name": fmt.Sprintf("kill-%d", i), "runtime": "go", "binary_url": "https://example.com/agent"})
				if res.Err != nil || res.Status != 201 {
					return
				}
				var a struct{ ID string }
				json.Unmarshal(res.Body, &a) //nolint:errcheck // checked against the log
				acked = append(acked, a.ID)
			}
		}()
		apitest.Eventually(t, waitFor, "deliveries refused by the receiver", func() bool {
			refused, _ := rc.counts()
			return refused >= 20
		})
		p.Kill()
		<-created
		if len(acked) < 20 {
			t.Fatalf("only %d creates acknowledged", len(acked))
		}

		rc.down.Store(false)
		p = apitest.StartProcess(t, env)
		logged := map[string]string{} // agent id → event id of its agent.created
		var ids []string
		for _, ev := range logEvents(t, p) {
			if ev.Event == "agent.created" {
				logged[ev.Data.AgentID] = ev.ID
			}
			ids = append(ids, ev.ID)
		}
		for _, a := range acked {
			if logged[a] == "" {
				t.Fatalf("agent %s was acknowledged but its event is not in the log", a)
			}
		}
		apitest.Eventually(t, waitFor, "every event delivered", func() bool {
			_, accepted := rc.counts()
			return accepted >= len(ids)
		})
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if len(rc.bad) > 0 {
			t.Fatalf("bad signatures on %v", rc.bad)
		}
		for agent, id := range logged {
			if rc.accepted[id] != agent {
				t.Fatalf("event %s of %s not delivered (got %q)", id, agent, rc.accepted[id])
			}
		}
		for id, agent := range rc.refused {
			if rc.accepted[id] != agent {
				t.Fatalf("webhook-id %s (agent %s) refused before the kill, not delivered after it with the same id", id, agent)
			}
		}
		if len(rc.accepted) != len(ids) {
			t.Fatalf("accepted %d distinct webhook-ids for %d events", len(rc.accepted), len(ids))
		}
	})
}

// sse reads a follow stream's events (id and data).
type sse struct {
	lines  *bufio.Scanner
	cancel context.CancelFunc
}

func follow(t *testing.T, p *apitest.Process, lastEventID string) *sse {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.Base+"/v1/events?follow=true", nil)
	req.Header.Set("Authorization", "Bearer "+p.Token)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != 200 {
		cancel()
		t.Fatalf("follow: %v %v", res, err)
	}
	s := &sse{lines: bufio.NewScanner(res.Body), cancel: func() { cancel(); res.Body.Close() }}
	t.Cleanup(s.cancel)
	return s
}

// next returns the next event's id and event type.
func (s *sse) next(t *testing.T) (id, typ string) {
	t.Helper()
	for s.lines.Scan() {
		line := s.lines.Text()
		switch {
		case strings.HasPrefix(line, "id: "):
			id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "data: "):
			var ev event
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev); err != nil || ev.ID != id {
				t.Fatalf("event %s: %s", id, line)
			}
			if strings.Contains(line, `"reason":null`) || strings.Contains(line, `"changed":null`) {
				t.Fatalf("null members in a frame: %s", line)
			}
			typ = ev.Event
		case line == "" && id != "":
			return id, typ
		}
	}
	t.Fatalf("stream ended: %v", s.lines.Err())
	return "", ""
}

// TestFollowAcrossRestart: a follower of /v1/events resumes with
// Last-Event-ID after the server restarted and events were written while
// it was away: it gets each later event once, in order.
func TestFollowAcrossRestart(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		if strings.HasPrefix(url, "sqlite:") {
			url = "sqlite:" + filepath.Join(t.TempDir(), "follow.db")
		}
		env := serverEnv(url, t.TempDir())
		p := apitest.StartProcess(t, env)
		create := func(name string) {
			t.Helper()
			if res := p.Do(t, http.MethodPost, "/v1/agents", p.Token, map[string]any{"name": name, "runtime": "go", "binary_url": "https://example.com/agent"}); res.Status != 201 {
				t.Fatalf("create %s: %d %s", name, res.Status, res.Body)
			}
		}
		s := follow(t, p, "")
		for i := range 3 {
			create(fmt.Sprintf("before-%d", i))
		}
		var last string
		for range 3 {
			last, _ = s.next(t)
		}
		s.cancel()
		p.Stop(t)

		p = apitest.StartProcess(t, env)
		for i := range 3 {
			create(fmt.Sprintf("away-%d", i))
		}
		s = follow(t, p, last)
		for i := range 3 {
			create(fmt.Sprintf("after-%d", i))
		}
		var want []string
		for _, ev := range logEvents(t, p) {
			if n, _ := strconv.Atoi(ev.ID); n > mustAtoi(t, last) {
				want = append([]string{ev.ID}, want...) // the log lists newest first
			}
		}
		if len(want) != 6 {
			t.Fatalf("%d events after %s in the log, want 6", len(want), last)
		}
		for _, w := range want {
			if id, typ := s.next(t); id != w || typ != "agent.created" {
				t.Fatalf("got %s (%s), want %s: the stream must resume without gap or repeat", id, typ, w)
			}
		}
	})
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
