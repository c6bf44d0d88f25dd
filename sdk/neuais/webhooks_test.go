package neuais_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/sdk/neuais"
)

// waitFor bounds waits for deliveries, generous for a loaded machine.
const waitFor = 2 * time.Minute

// delivery is one request the receiver got.
type delivery struct {
	path   string
	header http.Header
	body   []byte
}

// receiver serves deliveries on 127.0.0.1, answering 200.
type receiver struct {
	URL  string
	ch   chan delivery
	seen []delivery // received, not yet taken by next
}

func receive(t *testing.T) *receiver {
	r := &receiver{ch: make(chan delivery, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.ch <- delivery{req.URL.Path, req.Header.Clone(), body}
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// next takes the first delivery to path of an event type, received or to come.
func (r *receiver) next(t *testing.T, path, event string) delivery {
	t.Helper()
	timeout := time.After(waitFor)
	for i := 0; ; i++ {
		for i == len(r.seen) {
			select {
			case d := <-r.ch:
				r.seen = append(r.seen, d)
			case <-timeout:
				t.Fatalf("no %s delivery to %s within %s", event, path, waitFor)
			}
		}
		d := r.seen[i]
		var p struct{ Event string }
		if json.Unmarshal(d.body, &p) == nil && d.path == path && p.Event == event {
			r.seen = append(r.seen[:i], r.seen[i+1:]...)
			return d
		}
	}
}

// sign signs as the server does, for what it never sends (a stale timestamp).
func sign(key []byte, id string, ts int64, body []byte) http.Header {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
	mac.Write(body)
	h := http.Header{}
	h.Set("webhook-id", id)
	h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	h.Set("webhook-signature", "v1,"+base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	return h
}

// TestWebhooks creates webhooks with a chosen and a generated secret,
// verifies the real server's deliveries with VerifyWebhook, sends a test
// message, retries it, rotates a secret (both sign for a while), pauses,
// pages and deletes.
func TestWebhooks(t *testing.T) {
	s := apitest.Start(t, "", func(c *config.Config) { c.AllowPrivateWebhookURLs = true })
	client := connect(t, s)
	hooks := client.Webhooks()
	recv := receive(t)
	req := neuais.CreateWebhookRequest{URL: recv.URL + "/raw", Events: []string{"agent.created"}, Secret: "your-webhook-secret", IdempotencyKey: "sdk-hook-1"}
	raw, err := hooks.Create(req)
	if err != nil || raw.Secret != "your-webhook-secret" || raw.Status != "active" || !raw.Active {
		t.Fatalf("Create = %+v, %v", raw, err)
	}
	if again, err := hooks.Create(req); err != nil || again.ID != raw.ID {
		t.Fatalf("Create again with its key = %+v, %v", again, err)
	}
	gen, err := hooks.Create(neuais.CreateWebhookRequest{URL: recv.URL + "/gen", Events: []string{"*"}})
	if err != nil || !strings.HasPrefix(gen.Secret, "whsec_") {
		t.Fatalf("Create(generated secret) = %+v, %v", gen, err)
	}
	if _, err := hooks.Create(neuais.CreateWebhookRequest{URL: "ftp://example.com", Events: []string{"*"}}); apiError(t, err).Details["field"] != "url" {
		t.Fatalf("bad url: %v", err)
	}

	agent, err := client.Agents().Create(neuais.CreateAgentRequest{Name: "hooked", Runtime: "native", BinaryURL: "https://example.com/agent"})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("Verify", func(t *testing.T) {
		for _, c := range []struct{ path, secret string }{{"/raw", raw.Secret}, {"/gen", gen.Secret}} {
			d := recv.next(t, c.path, "agent.created")
			if err := neuais.VerifyWebhook(c.secret, d.header, d.body); err != nil {
				t.Fatalf("%s: %v", c.path, err)
			}
			var ev neuais.Event
			if err := json.Unmarshal(d.body, &ev); err != nil || ev.Data.AgentID != agent.ID {
				t.Fatalf("%s payload %s: %v", c.path, d.body, err)
			}
			if err := neuais.VerifyWebhook("another-secret", d.header, d.body); !errors.Is(err, neuais.ErrWebhookSignature) {
				t.Fatalf("other secret: %v", err)
			}
			tampered := append([]byte(nil), d.body...)
			tampered[len(tampered)-2] ^= 1
			if err := neuais.VerifyWebhook(c.secret, d.header, tampered); !errors.Is(err, neuais.ErrWebhookSignature) {
				t.Fatalf("tampered body: %v", err)
			}
		}
		key := []byte(raw.Secret)
		stale := sign(key, "1", time.Now().Add(-6*time.Minute).Unix(), []byte("{}"))
		if err := neuais.VerifyWebhook(raw.Secret, stale, []byte("{}")); !errors.Is(err, neuais.ErrWebhookTimestamp) {
			t.Fatalf("stale timestamp: %v", err)
		}
		if err := neuais.VerifyWebhook(raw.Secret, sign(key, "1", time.Now().Unix(), []byte("{}")), []byte("{}")); err != nil {
			t.Fatalf("fresh: %v", err)
		}
	})

	var test *neuais.WebhookDelivery
	t.Run("TestAndDeliveries", func(t *testing.T) {
		test, err = hooks.Test(raw.ID)
		if err != nil || test.Event != "webhook.test" || test.WebhookID != raw.ID {
			t.Fatalf("Test = %+v, %v", test, err)
		}
		d := recv.next(t, "/raw", "webhook.test")
		if err := neuais.VerifyWebhook(raw.Secret, d.header, d.body); err != nil || d.header.Get("webhook-id") != test.MessageID {
			t.Fatalf("test message %v: %v", d.header, err)
		}
		apitest.Eventually(t, waitFor, "the test delivery recorded as succeeded", func() bool {
			list, err := hooks.Deliveries(raw.ID, &neuais.ListDeliveriesOptions{Status: "succeeded"})
			return err == nil && list.Total == 2 && list.Deliveries[0].ID == test.ID && list.Deliveries[0].Attempts[0].StatusCode == 200
		})
		var events []string
		for d, err := range hooks.AllDeliveries(raw.ID, &neuais.ListDeliveriesOptions{ListOptions: neuais.ListOptions{Limit: 1}}) {
			if err != nil {
				t.Fatal(err)
			}
			events = append(events, d.Event)
		}
		if strings.Join(events, " ") != "webhook.test agent.created" {
			t.Fatalf("AllDeliveries = %v", events)
		}
		if _, err := hooks.Deliveries(raw.ID, &neuais.ListDeliveriesOptions{Status: "lost"}); apiError(t, err).Code != "invalid_request" {
			t.Fatalf("bad status: %v", err)
		}

		again, err := hooks.RetryDelivery(raw.ID, test.ID)
		if err != nil || again.ID != test.ID || again.Status != "pending" {
			t.Fatalf("RetryDelivery = %+v, %v", again, err)
		}
		if d := recv.next(t, "/raw", "webhook.test"); d.header.Get("webhook-id") != test.MessageID {
			t.Fatalf("retried with another webhook-id: %v", d.header)
		}
		if _, err := hooks.RetryDelivery(raw.ID, "dlv_missing"); apiError(t, err).Code != "not_found" {
			t.Fatalf("retry missing: %v", err)
		}
	})

	t.Run("RotateSecret", func(t *testing.T) {
		rotated, err := hooks.RotateSecret(gen.ID)
		if err != nil || !strings.HasPrefix(rotated.Secret, "whsec_") || rotated.Secret == gen.Secret || rotated.PreviousSecretExpiresAt == nil {
			t.Fatalf("RotateSecret = %+v, %v", rotated, err)
		}
		if _, err := hooks.Test(gen.ID); err != nil {
			t.Fatal(err)
		}
		d := recv.next(t, "/gen", "webhook.test")
		if n := len(strings.Fields(d.header.Get("webhook-signature"))); n != 2 {
			t.Fatalf("%d signatures during the rotation, want 2", n)
		}
		for _, secret := range []string{gen.Secret, rotated.Secret} {
			if err := neuais.VerifyWebhook(secret, d.header, d.body); err != nil {
				t.Fatalf("secret %s: %v", secret, err)
			}
		}
	})

	t.Run("UpdateListDelete", func(t *testing.T) {
		paused, url := false, recv.URL+"/moved"
		w, err := hooks.Update(raw.ID, neuais.UpdateWebhookRequest{URL: &url, Active: &paused})
		if err != nil || w.Status != "inactive" || w.URL != url || w.Events[0] != "agent.created" {
			t.Fatalf("Update = %+v, %v", w, err)
		}
		if _, err := hooks.RetryDelivery(raw.ID, test.ID); apiError(t, err).Code != "conflict" {
			t.Fatalf("retry while paused: %v", err)
		}
		if got, err := hooks.Get(raw.ID); err != nil || got.Status != "inactive" || got.UpdatedAt != w.UpdatedAt {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		list, err := hooks.List(&neuais.ListOptions{Limit: 1, Sort: "created_at"})
		if err != nil || list.Total != 2 || !list.HasMore || list.Webhooks[0].ID != raw.ID {
			t.Fatalf("List = %+v, %v", list, err)
		}
		var ids []string
		for w, err := range hooks.All(&neuais.ListOptions{Limit: 1, Sort: "created_at"}) {
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, w.ID)
		}
		if strings.Join(ids, " ") != raw.ID+" "+gen.ID {
			t.Fatalf("All = %v", ids)
		}
		if err := hooks.Delete(raw.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := hooks.Get(raw.ID); apiError(t, err).StatusCode != 404 {
			t.Fatalf("after delete: %v", err)
		}
	})
}

// TestEvents lists, filters and pages the event log, follows it, and
// resumes a follow after an event id.
func TestEvents(t *testing.T) {
	s := apitest.Start(t, "")
	client := connect(t, s)
	agents, events := client.Agents(), client.Events()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	followed := make(chan neuais.Event)
	go func() {
		for ev, err := range events.FollowContext(ctx, &neuais.FollowEventsOptions{Type: "agent.created"}) {
			if err != nil {
				return
			}
			select {
			case followed <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	// The follow starts with the events written after it connected: create
	// agents until one arrives.
	var first neuais.Event
	for n := 0; first.ID == ""; n++ {
		if _, err := agents.Create(neuais.CreateAgentRequest{Name: "ev-" + strconv.Itoa(n), Runtime: "native", BinaryURL: "https://example.com/agent"}); err != nil {
			t.Fatal(err)
		}
		select {
		case first = <-followed:
		case <-time.After(100 * time.Millisecond):
		}
	}
	a, err := agents.Create(neuais.CreateAgentRequest{Name: "ev-last", Runtime: "native", BinaryURL: "https://example.com/agent"})
	if err != nil {
		t.Fatal(err)
	}
	var ev neuais.Event
	for ev.Data.AgentID != a.ID {
		select {
		case ev = <-followed:
		case <-ctx.Done():
			t.Fatal("ev-last not followed")
		}
	}
	if ev.Event != "agent.created" || ev.Data.Name != "ev-last" || ev.ID == first.ID {
		t.Fatalf("followed %+v after %+v", ev, first)
	}
	if _, err := agents.Update(a.ID, neuais.UpdateAgentRequest{Environment: map[string]string{"MODE": "fast"}}); err != nil {
		t.Fatal(err)
	}

	t.Run("ListAll", func(t *testing.T) {
		list, err := events.List(&neuais.ListEventsOptions{AgentID: a.ID})
		if err != nil || list.Total != 2 || list.Events[0].Event != "agent.updated" || list.Events[0].Data.Changed[0] != "environment" || list.Events[1].ID != ev.ID {
			t.Fatalf("List = %+v, %v", list, err)
		}
		created, err := events.List(&neuais.ListEventsOptions{Type: "agent.created"})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for e, err := range events.All(&neuais.ListEventsOptions{Type: "agent.created", ListOptions: neuais.ListOptions{Limit: 2}}) {
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, e.ID)
		}
		if len(ids) != created.Total || ids[0] != ev.ID {
			t.Fatalf("All = %v, want %d newest first", ids, created.Total)
		}
		if _, err := events.List(&neuais.ListEventsOptions{Type: "agent.exploded"}); apiError(t, err).Code != "invalid_request" {
			t.Fatalf("bad type: %v", err)
		}
	})
	t.Run("FollowAfter", func(t *testing.T) {
		var got []string
		for e, err := range events.FollowContext(ctx, &neuais.FollowEventsOptions{AgentID: a.ID, After: first.ID}) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, e.Event+" "+e.Data.Name)
			if len(got) == 2 {
				break
			}
		}
		if strings.Join(got, ", ") != "agent.created ev-last, agent.updated ev-last" {
			t.Fatalf("resumed after %s: %v", first.ID, got)
		}
	})
}

// TestFollowEventsAcrossARestart follows the event log while the server is
// killed and started again on the same address and database: the follow
// resumes with Last-Event-ID and sees exactly the stored events.
func TestFollowEventsAcrossARestart(t *testing.T) {
	cfg := apitest.Config("", t.TempDir())
	s := apitest.StartConfig(t, cfg)
	cfg.Addr = s.Listener.Addr().String() // the restarted server listens there again
	client := connect(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	followed := make(chan neuais.Event)
	go func() {
		for ev, err := range client.Events().FollowContext(ctx, nil) {
			if err != nil {
				return
			}
			select {
			case followed <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	create := func(name string) {
		if _, err := client.Agents().Create(neuais.CreateAgentRequest{Name: name, Runtime: "native", BinaryURL: "https://example.com/agent"}); err != nil {
			t.Fatal(err)
		}
	}
	// The follow starts with the events written after it connected.
	var got []string
	for n := 0; len(got) == 0; n++ {
		create("before-" + strconv.Itoa(n))
		select {
		case ev := <-followed:
			got = append(got, ev.ID)
		case <-time.After(100 * time.Millisecond):
		}
	}
	create("before-last")
	s.CloseClientConnections()
	s.Close()
	if err := s.App.Close(); err != nil {
		t.Fatal(err)
	}
	apitest.StartConfig(t, cfg)
	for _, name := range []string{"after-1", "after-2", "after-last"} {
		create(name)
	}
	for last := ""; last != "after-last"; {
		select {
		case ev := <-followed:
			got, last = append(got, ev.ID), ev.Data.Name
		case <-ctx.Done():
			t.Fatalf("after-last not followed; followed %v", got)
		}
	}
	var stored []string
	for ev, err := range client.Events().All(&neuais.ListEventsOptions{ListOptions: neuais.ListOptions{Sort: "id:asc"}}) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.ID == got[0] || len(stored) > 0 {
			stored = append(stored, ev.ID)
		}
	}
	if strings.Join(got, " ") != strings.Join(stored, " ") {
		t.Fatalf("followed %v, stored from the first %v: a gap or a repeat", got, stored)
	}
}
