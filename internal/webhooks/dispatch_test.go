package webhooks_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/webhooks"
	"github.com/neuais/neuais/models"
)

func ptr[T any](v T) *T { return &v }

// waitDelivery waits until the webhook's only delivery satisfies cond.
func (h *harness) waitDelivery(webhookID, what string, cond func(*models.Delivery) bool) *models.Delivery {
	h.t.Helper()
	var d *models.Delivery
	apitest.Eventually(h.t, waitFor, what, func() bool {
		ds := h.deliveries(webhookID)
		if len(ds) != 1 {
			return false
		}
		d = ds[0]
		return cond(d)
	})
	return d
}

func TestDelivery(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		h := newHarness(t, url)
		rc := newReceiver(t)
		h.event(events.AgentCreated) // before the webhook: never sent
		w := h.create(rc.URL, []string{events.AgentCreated, events.AgentStopped}, nil)
		if !strings.HasPrefix(w.CreatedSecret, webhooks.SecretPrefix) {
			t.Fatalf("generated secret %q", w.CreatedSecret)
		}
		created := h.event(events.AgentCreated)
		h.event(events.AgentUpdated) // not subscribed
		stopped := h.event(events.AgentStopped)
		got := rc.waitRequests(t, 2)
		ids := map[string]string{}
		for _, r := range got {
			if !verify(r, key(t, w.CreatedSecret)) {
				t.Fatalf("signature does not verify: %v", r.header)
			}
			var p map[string]any
			if err := json.Unmarshal(r.body, &p); err != nil {
				t.Fatal(err)
			}
			data, _ := p["data"].(map[string]any)
			if data["agent_id"] != "agt_1" || data["name"] != "one" || p["timestamp"] == nil {
				t.Fatalf("payload %s", r.body)
			}
			ids[r.header.Get("webhook-id")] = p["event"].(string)
		}
		if len(ids) != 2 || ids[created.EventID()] != events.AgentCreated || ids[stopped.EventID()] != events.AgentStopped {
			t.Fatalf("webhook-ids and events %v, want %s created and %s stopped", ids, created.EventID(), stopped.EventID())
		}
		// The updated event was read past (it is older than the stopped
		// one, which arrived), so nothing more comes for it.
		if ds := h.deliveries(w.ID); len(ds) != 2 {
			t.Fatalf("%d deliveries, want 2", len(ds))
		}
	})
}

func TestRawSecret(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		h := newHarness(t, url)
		rc := newReceiver(t)
		w := h.create(rc.URL, []string{"*"}, ptr("your-webhook-secret"))
		h.event(events.AgentDeleted)
		r := rc.waitRequests(t, 1)[0]
		if w.CreatedSecret != "your-webhook-secret" || !verify(r, []byte("your-webhook-secret")) {
			t.Fatalf("raw secret does not sign with its bytes: %v", r.header)
		}
	})
}

func TestRetries(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		t.Run("500Then200", func(t *testing.T) {
			h := newHarness(t, url)
			rc := newReceiver(t)
			rc.setAnswer(func(n int, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					http.Error(w, "boom", http.StatusInternalServerError)
				}
			})
			w := h.create(rc.URL, []string{"*"}, nil)
			ev := h.event(events.AgentStarted)
			d := h.waitDelivery(w.ID, "a failed attempt", func(d *models.Delivery) bool { return d.Attempts == 1 })
			a := d.AttemptList[0]
			if d.Status != models.DeliveryPending || a.StatusCode != 500 || a.Response != "boom\n" || a.NextRetryAt == nil ||
				a.NextRetryAt.Sub(a.AttemptedAt) < testSchedule[1] || a.NextRetryAt.Sub(a.AttemptedAt) > testSchedule[1]*6/5 {
				t.Fatalf("after a 500: %+v %+v", d, a)
			}
			hook, _ := h.svc.Get(h.ctx, w.ID)
			if hook.FailingSince == nil {
				t.Fatal("failing_since not set")
			}
			h.advance(testSchedule[1] * 6 / 5)
			d = h.waitDelivery(w.ID, "success", func(d *models.Delivery) bool { return d.Status == models.DeliverySucceeded })
			got := rc.requests()
			if d.Attempts != 2 || len(got) != 2 || got[0].header.Get("webhook-id") != ev.EventID() || got[1].header.Get("webhook-id") != ev.EventID() {
				t.Fatalf("attempts %d, requests %d", d.Attempts, len(got))
			}
			if !verify(got[1], key(t, w.CreatedSecret)) {
				t.Fatal("retry's signature does not verify")
			}
			if hook, _ := h.svc.Get(h.ctx, w.ID); hook.FailingSince != nil {
				t.Fatal("failing_since kept after a success")
			}
		})
		t.Run("DownThenUp", func(t *testing.T) {
			h := newHarness(t, url)
			addr := freeAddr(t)
			w := h.create("http://"+addr+"/hook", []string{"*"}, nil)
			ev := h.event(events.AgentError)
			d := h.waitDelivery(w.ID, "a refused attempt", func(d *models.Delivery) bool { return d.Attempts == 1 })
			if a := d.AttemptList[0]; a.StatusCode != 0 || a.Error == "" || d.Status != models.DeliveryPending {
				t.Fatalf("refused: %+v", a)
			}
			rc := newReceiver(t)
			rc.Listener.Close()
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				t.Skipf("port taken meanwhile: %v", err)
			}
			up := httptest.NewUnstartedServer(rc.Config.Handler)
			up.Listener = ln
			up.Start()
			defer up.Close()
			h.advance(testSchedule[1] * 6 / 5)
			r := rc.waitRequests(t, 1)[0]
			if r.header.Get("webhook-id") != ev.EventID() {
				t.Fatalf("webhook-id %q", r.header.Get("webhook-id"))
			}
			h.waitDelivery(w.ID, "success", func(d *models.Delivery) bool { return d.Status == models.DeliverySucceeded })
		})
		t.Run("SlowTimesOut", func(t *testing.T) {
			// Only here is the timeout short; the receiver is far slower.
			h := newHarness(t, url, func(c *webhooks.Config) { c.Timeout = 300 * time.Millisecond })
			rc := newReceiver(t)
			release := make(chan struct{})
			rc.setAnswer(func(n int, _ http.ResponseWriter, r *http.Request) {
				if n == 1 {
					select {
					case <-release:
					case <-r.Context().Done():
					}
				}
			})
			defer close(release)
			w := h.create(rc.URL, []string{"*"}, nil)
			h.event(events.AgentCreated)
			d := h.waitDelivery(w.ID, "a timed-out attempt", func(d *models.Delivery) bool { return d.Attempts == 1 })
			if a := d.AttemptList[0]; a.StatusCode != 0 || !strings.Contains(a.Error, "Timeout") {
				t.Fatalf("timed out: %+v", a)
			}
			h.advance(testSchedule[1] * 6 / 5)
			h.waitDelivery(w.ID, "success", func(d *models.Delivery) bool { return d.Status == models.DeliverySucceeded && d.Attempts == 2 })
		})
		t.Run("RetryAfter", func(t *testing.T) {
			h := newHarness(t, url)
			rc := newReceiver(t)
			rc.setAnswer(func(_ int, w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", "120")
				w.WriteHeader(http.StatusServiceUnavailable)
			})
			w := h.create(rc.URL, []string{"*"}, nil)
			h.event(events.AgentCreated)
			d := h.waitDelivery(w.ID, "a 503", func(d *models.Delivery) bool { return d.Attempts == 1 })
			if a := d.AttemptList[0]; a.NextRetryAt == nil || a.NextRetryAt.Sub(a.AttemptedAt) < 120*time.Second {
				t.Fatalf("Retry-After not honoured: %+v", a)
			}
		})
		t.Run("ScheduleRunsOut", func(t *testing.T) {
			h := newHarness(t, url)
			rc := newReceiver(t)
			rc.setAnswer(func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusBadGateway) })
			w := h.create(rc.URL, []string{"*"}, nil)
			h.event(events.AgentCreated)
			for i := 1; i < len(testSchedule); i++ {
				h.waitDelivery(w.ID, "attempt", func(d *models.Delivery) bool { return d.Attempts == i })
				h.advance(testSchedule[i] * 6 / 5)
			}
			d := h.waitDelivery(w.ID, "failed", func(d *models.Delivery) bool { return d.Status == models.DeliveryFailed })
			if d.Attempts != len(testSchedule) || d.NextAttemptAt != nil {
				t.Fatalf("%+v", d)
			}
		})
	})
}

func TestDisabling(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		t.Run("Gone", func(t *testing.T) {
			h := newHarness(t, url)
			rc := newReceiver(t)
			rc.setAnswer(func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusGone) })
			w := h.create(rc.URL, []string{"*"}, nil)
			h.event(events.AgentCreated)
			h.waitDelivery(w.ID, "failed", func(d *models.Delivery) bool { return d.Status == models.DeliveryFailed && d.Attempts == 1 })
			hook, err := h.svc.Get(h.ctx, w.ID)
			if err != nil || hook.Status() != models.WebhookDisabled || hook.Active || !strings.Contains(hook.DisabledReason, "410") {
				t.Fatalf("after 410: %+v %v", hook, err)
			}
			if st, err := h.svc.Stats(h.ctx); err != nil || st.Disabled != 1 {
				t.Fatalf("stats %+v %v", st, err)
			}
			// Enabled again, it receives what comes next.
			rc.setAnswer(func(int, http.ResponseWriter, *http.Request) {})
			if hook, err = h.svc.Update(h.ctx, w.ID, webhooks.UpdateInput{Active: ptr(true)}); err != nil || hook.Status() != models.WebhookActive {
				t.Fatalf("enable: %+v %v", hook, err)
			}
			h.event(events.AgentStopped)
			rc.waitRequests(t, 2)
		})
		t.Run("FailingTooLong", func(t *testing.T) {
			h := newHarness(t, url, func(c *webhooks.Config) {
				c.DisableAfter = time.Hour
				c.Schedule = []time.Duration{0, 40 * time.Minute, 40 * time.Minute, 40 * time.Minute}
			})
			rc := newReceiver(t)
			rc.setAnswer(func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
			w := h.create(rc.URL, []string{"*"}, nil)
			h.event(events.AgentCreated)
			for i := 1; i <= 2; i++ {
				h.waitDelivery(w.ID, "attempt", func(d *models.Delivery) bool { return d.Attempts == i })
				h.advance(50 * time.Minute)
			}
			h.waitDelivery(w.ID, "third attempt", func(d *models.Delivery) bool { return d.Attempts == 3 })
			hook, _ := h.svc.Get(h.ctx, w.ID)
			if hook.Status() != models.WebhookDisabled || !strings.Contains(hook.DisabledReason, "failed for 1h") {
				t.Fatalf("after failing 100 minutes of a 1h limit: %+v", hook)
			}
		})
	})
}

func TestRotation(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		h := newHarness(t, url)
		rc := newReceiver(t)
		w := h.create(rc.URL, []string{"*"}, nil)
		old := w.CreatedSecret
		rotated, err := h.svc.RotateSecret(h.ctx, w.ID)
		if err != nil || rotated.CreatedSecret == old || rotated.PreviousExpiresAt == nil {
			t.Fatalf("rotate: %+v %v", rotated, err)
		}
		h.event(events.AgentCreated)
		r := rc.waitRequests(t, 1)[0]
		if sigs := strings.Fields(r.header.Get("webhook-signature")); len(sigs) != 2 {
			t.Fatalf("during the overlap: %q", sigs)
		}
		for _, r := range []request{{header: r.header, body: r.body}} {
			if !verify(r, key(t, old)) || !verify(r, key(t, rotated.CreatedSecret)) {
				t.Fatal("both secrets must verify during the overlap")
			}
		}
		h.advance(webhooks.RotationOverlap + time.Minute)
		h.event(events.AgentStopped)
		r = rc.waitRequests(t, 2)[1]
		if verify(r, key(t, old)) || !verify(r, key(t, rotated.CreatedSecret)) {
			t.Fatalf("after the overlap: %q", r.header.Get("webhook-signature"))
		}
	})
}

func TestTestAndRetry(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		h := newHarness(t, url)
		rc := newReceiver(t)
		w := h.create(rc.URL, []string{events.AgentCreated}, nil)
		d, err := h.svc.Test(h.ctx, w.ID)
		if err != nil {
			t.Fatal(err)
		}
		r := rc.waitRequests(t, 1)[0]
		if r.header.Get("webhook-id") != d.MessageID || !verify(r, key(t, w.CreatedSecret)) || !strings.Contains(string(r.body), webhooks.TestEvent) {
			t.Fatalf("test message %v %s", r.header, r.body)
		}
		h.waitDelivery(w.ID, "test delivered", func(d *models.Delivery) bool { return d.Status == models.DeliverySucceeded })
		if _, err := h.svc.Retry(h.ctx, w.ID, d.ID); err != nil {
			t.Fatal(err)
		}
		again := rc.waitRequests(t, 2)[1]
		if again.header.Get("webhook-id") != d.MessageID {
			t.Fatal("a retry keeps the webhook-id")
		}
		if _, err := h.svc.Retry(h.ctx, w.ID, "dlv_0000000000000000"); models.ErrorCode(err) != models.CodeNotFound {
			t.Fatalf("unknown delivery: %v", err)
		}
	})
}
