package webhooks_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/secrets"
	"github.com/neuais/neuais/internal/webhooks"
	"github.com/neuais/neuais/models"
)

// waitFor is generous: the clock drives the schedule, this only bounds a
// wait for work already due on a loaded machine.
const waitFor = 60 * time.Second

// clock is the schedule's clock, moved by tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// harness is a dispatcher over a fresh database, with one organization
// and an admin's context.
type harness struct {
	t     *testing.T
	log   *events.Log
	svc   *webhooks.Service
	disp  *webhooks.Dispatcher
	clock *clock
	ctx   context.Context
	orgID string
}

// testSchedule retries after 10 s, 20 s and 30 s of the test clock.
var testSchedule = []time.Duration{0, 10 * time.Second, 20 * time.Second, 30 * time.Second}

func newHarness(t *testing.T, databaseURL string, configure ...func(*webhooks.Config)) *harness {
	t.Helper()
	db := apitest.MustOpenDB(t, databaseURL)
	id := models.NewID(models.PrefixOrganization)
	org := &models.Organization{ID: id, Name: id, Slug: strings.ReplaceAll(id, "_", "-"), Tier: models.TierFree, RateLimit: 100, CreatedAt: models.Now()}
	if _, err := db.NewInsert().Model(org).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	kr, err := secrets.NewKeyring(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	c := &clock{now: time.Now().UTC()}
	cfg := webhooks.Config{
		Secrets: kr, AllowPrivate: true, Timeout: waitFor, Schedule: testSchedule,
		Workers: 8, DisableAfter: 24 * time.Hour, Now: c.Now,
	}
	for _, f := range configure {
		f(&cfg)
	}
	bus := events.NewInProcess(0)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := webhooks.New(db, cfg)
	disp := webhooks.NewDispatcher(svc, bus, logger)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); disp.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; bus.Close() })
	return &harness{
		t: t, log: events.NewLog(db, bus, logger), svc: svc, disp: disp, clock: c, orgID: org.ID,
		ctx: models.WithIdentity(context.Background(), &models.Identity{UserID: "usr_test", OrgID: org.ID, Role: models.RoleAdmin}),
	}
}

// event writes one event of agent agt_1 and returns it.
func (h *harness) event(typ string) events.AgentEvent {
	h.t.Helper()
	evs, err := h.log.Change(h.ctx, func(_ context.Context, tx *events.Tx) error {
		tx.Record(events.AgentEvent{Event: typ, Data: events.AgentEventData{AgentID: "agt_1", Name: "one", OrgID: h.orgID, Status: "running"}})
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return evs[0]
}

// advance moves the schedule's clock and wakes the dispatcher.
func (h *harness) advance(d time.Duration) {
	h.clock.advance(d)
	h.disp.Wake()
}

func (h *harness) create(url string, evs []string, secret *string) *models.NewWebhook {
	h.t.Helper()
	w, err := h.svc.Create(h.ctx, webhooks.CreateInput{URL: url, Events: evs, Secret: secret}, "")
	if err != nil {
		h.t.Fatal(err)
	}
	return w
}

func (h *harness) deliveries(webhookID string) []*models.Delivery {
	h.t.Helper()
	page, err := h.svc.Deliveries(h.ctx, webhookID, webhooks.DeliveryFilter{}, models.ListParams{Limit: 100, Sort: "created_at:asc"})
	if err != nil {
		h.t.Fatal(err)
	}
	return page.Items
}

// request is one request a receiver got.
type request struct {
	header http.Header
	body   []byte
}

// receiver is an endpoint on 127.0.0.1 whose answers the test chooses.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []request
	answer func(n int, w http.ResponseWriter, r *http.Request) // n counts requests from 1
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{answer: func(int, http.ResponseWriter, *http.Request) {}}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, request{header: r.Header.Clone(), body: body})
		n, answer := len(rc.got), rc.answer
		rc.mu.Unlock()
		answer(n, w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) setAnswer(f func(n int, w http.ResponseWriter, r *http.Request)) {
	rc.mu.Lock()
	rc.answer = f
	rc.mu.Unlock()
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.got...)
}

// waitRequests waits until the receiver got n requests and returns them.
func (rc *receiver) waitRequests(t *testing.T, n int) []request {
	t.Helper()
	apitest.Eventually(t, waitFor, strconv.Itoa(n)+" requests", func() bool { return len(rc.requests()) >= n })
	return rc.requests()
}

// verify checks a request's Standard Webhooks signature against key,
// the way receivers do, and reports whether one of its signatures matches.
func verify(r request, key []byte) bool {
	id, ts := r.header.Get("webhook-id"), r.header.Get("webhook-timestamp")
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil || id == "" {
		return false
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(r.body)
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Fields(r.header.Get("webhook-signature")) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return true
		}
	}
	return false
}

func key(t *testing.T, secret string) []byte {
	t.Helper()
	k, err := webhooks.SigningKey(secret)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// freeAddr is an address on 127.0.0.1 nothing listens on (for now).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
