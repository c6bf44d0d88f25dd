package webhooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/neuais/neuais/internal/db"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/netguard"
	"github.com/neuais/neuais/models"
)

const (
	// cursorName is the dispatcher's row in event_cursors.
	cursorName = "webhooks"
	// fanOutBatch is how many events one fan-out transaction reads.
	fanOutBatch = 1000
	// insertChunk keeps a bulk insert under SQLite's variable limit.
	insertChunk = 500
	// maxClaim is the most deliveries one claim takes.
	maxClaim = 500
	// leaseMargin is how long past the attempt's timeout a claim holds:
	// after it, a delivery claimed by a dispatcher that died is due again.
	leaseMargin = 10 * time.Second
	// pollInterval is the longest wait without a wake-up: retries fall
	// due on the clock, and another instance's events may lose theirs.
	pollInterval = time.Second
	// maxResponseBytes of each answer's body are kept; at most
	// maxDrainBytes are read, so that the connection can be reused.
	maxResponseBytes = 1 << 10
	maxDrainBytes    = 64 << 10
	// maxRetryAfter caps a Retry-After the endpoint asks for.
	maxRetryAfter = 24 * time.Hour
)

// Dispatcher moves events from the log into the outbox and sends due
// deliveries through a pool of Config.Workers. Each pass is one
// transaction: it records the attempts that finished since the last one,
// fans out the new events and claims the deliveries now due, so that
// under load a pass carries many of each (one commit, not three per
// delivery). Deliveries to one endpoint go out concurrently, in no
// promised order: receivers order by webhook-id (the event id, which only
// grows) or the payload's timestamp, and drop duplicates by webhook-id.
type Dispatcher struct {
	s      *Service
	bus    events.Bus
	log    *slog.Logger
	client *http.Client

	wake    chan struct{}
	results chan result
	running atomic.Bool

	// conn is the connection the passes keep, so that a pass never waits
	// among the API's requests for one of the pool's (database/sql gives
	// a freed connection to any waiter). Only Run's goroutine uses it.
	conn *bun.Conn
}

// NewDispatcher returns the dispatcher of s's deliveries, woken by bus
// when events are written.
func NewDispatcher(s *Service, bus events.Bus, logger *slog.Logger) *Dispatcher {
	dialer := netguard.Dialer(s.cfg.Timeout, s.cfg.AllowPrivate, "webhooks are delivered to public addresses only", "NEUAIS_ALLOW_PRIVATE_WEBHOOK_URLS")
	d := &Dispatcher{
		s: s, bus: bus, log: logger,
		client: &http.Client{
			Timeout: s.cfg.Timeout,
			Transport: &http.Transport{
				DialContext: dialer.DialContext, ForceAttemptHTTP2: true,
				MaxIdleConns: s.cfg.Workers, MaxIdleConnsPerHost: s.cfg.Workers,
				IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: s.cfg.Timeout,
			},
			// A redirect is an answer that is not 2xx: endpoints are configured, not discovered.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		wake:    make(chan struct{}, 1),
		results: make(chan result, s.cfg.Workers),
	}
	s.wake = d.Wake
	return d
}

// Wake makes the dispatcher look for work now.
func (d *Dispatcher) Wake() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// Running reports whether Run is running.
func (d *Dispatcher) Running() bool { return d.running.Load() }

// Run dispatches until ctx ends. Attempts cut short by the end are not
// recorded: their claims are released, so the next start sends them.
func (d *Dispatcher) Run(ctx context.Context) {
	d.running.Store(true)
	defer d.running.Store(false)
	defer d.releaseConn()
	listened := make(chan struct{})
	go func() { defer close(listened); d.listen(ctx) }()
	defer func() { <-listened }()
	inflight := 0
	var done []result
	for {
		done = d.drain(done)
		inflight -= len(done)
		if ctx.Err() != nil {
			break
		}
		free := d.s.cfg.Workers - inflight
		p, err := d.pass(ctx, done, min(free, maxClaim))
		if err != nil && ctx.Err() == nil {
			// The attempts' leases run out and they are made again.
			d.log.Error("webhooks: dispatch", "recorded", len(done), "err", err)
		}
		done = done[:0]
		for _, c := range p.claimed {
			inflight++
			go func() { d.results <- d.send(ctx, c) }()
		}
		if err == nil && (p.events == fanOutBatch || (free > 0 && len(p.claimed) == min(free, maxClaim))) {
			continue // more is waiting
		}
		t := time.NewTimer(pollInterval)
		select {
		case <-ctx.Done():
		case <-d.wake:
		case r := <-d.results:
			done = append(done, r)
		case <-t.C:
		}
		t.Stop()
	}
	// Sends end soon once ctx has: record what they did, release the rest.
	for ; inflight > 0; inflight-- {
		done = append(done, <-d.results)
	}
	if len(done) > 0 {
		if _, err := d.pass(context.WithoutCancel(ctx), done, 0); err != nil {
			d.log.Error("webhooks: record at shutdown", "count", len(done), "err", err)
		}
	}
}

// drain appends the results already waiting to done.
func (d *Dispatcher) drain(done []result) []result {
	for {
		select {
		case r := <-d.results:
			done = append(done, r)
		default:
			return done
		}
	}
}

// listen turns the bus's announcements of written events into wake-ups.
func (d *Dispatcher) listen(ctx context.Context) {
	for ctx.Err() == nil {
		sub, err := d.bus.Subscribe(ctx, events.EventLogTopic, events.WithBuffer(events.QuietBuffer))
		if err != nil {
			return // the bus closed: the poll still finds the events
		}
		for range sub.C {
			d.Wake()
		}
		if !errors.Is(sub.Err(), events.ErrSlowSubscriber) {
			return
		}
	}
}

func (d *Dispatcher) isPG() bool { return d.s.db.Dialect().Name() == dialect.PG }

// passResult is what one pass did.
type passResult struct {
	events  int // read from the log
	claimed []claimed
}

// pass records done, fans out new events and claims up to limit due
// deliveries, in one transaction.
func (d *Dispatcher) pass(ctx context.Context, done []result, limit int) (passResult, error) {
	var p passResult
	var disabled []*hookState
	if d.conn == nil {
		c, err := d.s.db.Conn(ctx)
		if err != nil {
			return passResult{}, fmt.Errorf("webhooks: connection: %w", err)
		}
		d.conn = &c
	}
	// One pass carries many deliveries: it goes before the API's writes.
	err := d.conn.RunInTx(db.WithPriority(ctx), nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		if disabled, err = d.write(ctx, tx, done); err != nil {
			return fmt.Errorf("record attempts: %w", err)
		}
		if p.events, err = d.fanOut(ctx, tx); err != nil {
			return fmt.Errorf("fan out: %w", err)
		}
		if limit > 0 {
			if p.claimed, err = d.claim(ctx, tx, limit); err != nil {
				return fmt.Errorf("claim: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		d.releaseConn() // it may be broken: the next pass takes another
		return passResult{}, fmt.Errorf("webhooks: %w", err)
	}
	for _, h := range disabled {
		d.log.Warn("webhooks: endpoint disabled", "webhook", h.w.ID, "org", h.w.OrgID, "url", h.w.URL, "reason", h.disabledReason)
	}
	return p, nil
}

func (d *Dispatcher) releaseConn() {
	if d.conn != nil {
		d.conn.Close() //nolint:errcheck // a broken one is dropped by the pool
		d.conn = nil
	}
}

// fanOut reads a batch of events after the cursor and, in the same
// transaction, writes one delivery per event and active webhook of its
// organization that subscribes to it and was created before it, and
// moves the cursor. Event ids become visible in order (events.Insert),
// so the cursor never passes an event that commits later; the cursor's
// row lock keeps several instances from fanning out the same events.
func (d *Dispatcher) fanOut(ctx context.Context, tx bun.Tx) (int, error) {
	n := 0
	err := func() error {
		var cursor int64
		q := tx.NewSelect().Table("event_cursors").Column("last_id").Where("name = ?", cursorName)
		if d.isPG() {
			q = q.For("UPDATE")
		}
		if err := q.Scan(ctx, &cursor); err != nil {
			return fmt.Errorf("cursor: %w", err)
		}
		var rows []models.Event
		if err := tx.NewSelect().Model(&rows).Where("id > ?", cursor).Order("id").Limit(fanOutBatch).Scan(ctx); err != nil {
			return fmt.Errorf("events: %w", err)
		}
		if n = len(rows); n == 0 {
			return nil
		}
		orgs := map[string]bool{}
		var orgIDs []string
		for _, r := range rows {
			if !orgs[r.OrgID] {
				orgs[r.OrgID] = true
				orgIDs = append(orgIDs, r.OrgID)
			}
		}
		var hooks []*models.Webhook
		if err := tx.NewSelect().Model(&hooks).Column("id", "org_id", "events", "after_event_id").
			Where("active = ?", true).Where("org_id IN (?)", bun.List(orgIDs)).Scan(ctx); err != nil {
			return fmt.Errorf("webhooks: %w", err)
		}
		byOrg := map[string][]*models.Webhook{}
		for _, w := range hooks {
			w.Events = splitEvents(w.EventList)
			byOrg[w.OrgID] = append(byOrg[w.OrgID], w)
		}
		now := d.s.now()
		due := now.Add(d.s.cfg.Schedule[0])
		var out []*models.Delivery
		for _, r := range rows {
			var payload string
			for _, w := range byOrg[r.OrgID] {
				if r.ID <= w.AfterEventID || !subscribes(w, r.Type) {
					continue
				}
				if payload == "" {
					ev, err := events.Decode(r)
					if err != nil {
						return err
					}
					if payload, err = marshalPayload(*ev); err != nil {
						return err
					}
				}
				id := r.ID
				out = append(out, &models.Delivery{
					ID: models.NewID(models.PrefixDelivery), WebhookID: w.ID, OrgID: r.OrgID, EventID: &id,
					MessageID: strconv.FormatInt(r.ID, 10), Event: r.Type, Payload: payload,
					Status: models.DeliveryPending, NextAttemptAt: &due, CreatedAt: now, UpdatedAt: now,
				})
			}
		}
		for len(out) > 0 {
			chunk := out[:min(len(out), insertChunk)]
			out = out[len(chunk):]
			if _, err := tx.NewInsert().Model(&chunk).On("CONFLICT (webhook_id, event_id) DO NOTHING").Exec(ctx); err != nil {
				return fmt.Errorf("deliveries: %w", err)
			}
		}
		_, err := tx.NewUpdate().Table("event_cursors").Set("last_id = ?", rows[n-1].ID).Where("name = ?", cursorName).Exec(ctx)
		return err
	}()
	return n, err
}

// marshalPayload is the contract's payload: {"event","timestamp","data"}.
func marshalPayload(ev events.AgentEvent) (string, error) {
	b, err := json.Marshal(ev)
	if err != nil {
		return "", fmt.Errorf("webhooks: payload: %w", err)
	}
	return string(b), nil
}

// claimed is a delivery claimed for one attempt, with its endpoint.
type claimed struct {
	d *models.Delivery
	w *models.Webhook
}

// claim takes up to limit due deliveries of active endpoints (test
// messages also of inactive ones) with a lease; on PostgreSQL rows
// another instance is claiming are skipped.
func (d *Dispatcher) claim(ctx context.Context, tx bun.Tx, limit int) ([]claimed, error) {
	now := d.s.now()
	lease := now.Add(d.s.cfg.Timeout + leaseMargin)
	var ds []*models.Delivery
	q := tx.NewSelect().Model(&ds).ModelTableExpr("webhook_deliveries AS d").ColumnExpr("d.*").
		Where("d.status = ?", models.DeliveryPending).Where("d.next_attempt_at <= ?", now).
		Where("(d.lease_until IS NULL OR d.lease_until < ?)", now).
		Where("EXISTS (SELECT 1 FROM webhooks AS w WHERE w.id = d.webhook_id AND (w.active = ? OR d.event = ?))", true, TestEvent).
		OrderExpr("d.next_attempt_at, d.id").Limit(int64(limit))
	if d.isPG() {
		q = q.For("UPDATE OF d SKIP LOCKED")
	}
	if err := q.Scan(ctx); err != nil || len(ds) == 0 {
		return nil, err
	}
	ids := make([]string, len(ds))
	hookIDs := map[string]bool{}
	var hooks []string
	for i, x := range ds {
		ids[i] = x.ID
		if !hookIDs[x.WebhookID] {
			hookIDs[x.WebhookID] = true
			hooks = append(hooks, x.WebhookID)
		}
	}
	if _, err := tx.NewUpdate().Table("webhook_deliveries").Set("lease_until = ?", lease).Where("id IN (?)", bun.List(ids)).Exec(ctx); err != nil {
		return nil, err
	}
	var ws []*models.Webhook
	if err := tx.NewSelect().Model(&ws).Where("id IN (?)", bun.List(hooks)).Scan(ctx); err != nil {
		return nil, err
	}
	byID := map[string]*models.Webhook{}
	for _, w := range ws {
		if err := d.s.loaded(w); err != nil {
			return nil, err
		}
		byID[w.ID] = w
	}
	out := make([]claimed, len(ds))
	for i, x := range ds {
		out[i] = claimed{d: x, w: byID[x.WebhookID]} // the row lock keeps the webhook
	}
	return out, nil
}

// result is one finished attempt.
type result struct {
	claimed
	at         time.Time // on the schedule's clock
	status     int
	duration   time.Duration
	err        string
	response   string
	retryAfter time.Duration
	cancelled  bool // cut short by shutdown: not an attempt
}

// signingKeys are the keys a message is signed with now: the current
// secret's and, during a rotation's overlap, the previous one's.
func (d *Dispatcher) signingKeys(w *models.Webhook) ([][]byte, error) {
	key, err := SigningKey(w.Secret)
	if err != nil {
		return nil, err
	}
	keys := [][]byte{key}
	if w.PreviousSecret != "" && w.PreviousExpiresAt != nil && d.s.now().Before(*w.PreviousExpiresAt) {
		prev, err := SigningKey(w.PreviousSecret)
		if err != nil {
			return nil, err
		}
		keys = append(keys, prev)
	}
	return keys, nil
}

// send makes one attempt: a fresh timestamp and signature, the same
// webhook-id on every attempt.
func (d *Dispatcher) send(ctx context.Context, c claimed) result {
	r := result{claimed: c, at: d.s.now()}
	keys, err := d.signingKeys(c.w)
	if err != nil {
		r.err = err.Error()
		return r
	}
	body := []byte(c.d.Payload)
	ts := time.Now().Unix() // receivers compare it with their real clock
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.w.URL, bytes.NewReader(body))
	if err != nil {
		r.err = err.Error()
		return r
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "neuais-webhooks/1")
	req.Header.Set("webhook-id", c.d.MessageID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Signature(keys, c.d.MessageID, ts, body))
	start := time.Now()
	resp, err := d.client.Do(req)
	r.duration = time.Since(start)
	if err != nil {
		if ctx.Err() != nil {
			r.cancelled = true
		}
		r.err = err.Error()
		return r
	}
	defer resp.Body.Close()
	r.status = resp.StatusCode
	head, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	r.response = string(bytes.ToValidUTF8(head, []byte("?")))
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrainBytes)) //nolint:errcheck // only to reuse the connection
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		r.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		r.err = "answered " + resp.Status
	}
	return r
}

// parseRetryAfter reads seconds or an HTTP date; 0 when absent or invalid.
func parseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return min(time.Duration(secs)*time.Second, maxRetryAfter)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter)
	}
	return 0
}

// hookState is what a pass changes of one endpoint.
type hookState struct {
	w              *models.Webhook
	failingSince   *time.Time
	disabledReason string
	changed        bool
}

// write records a batch of attempts: each delivery's outcome and next
// attempt, and the endpoints' failing and disabled state; it returns the
// endpoints it disabled.
func (d *Dispatcher) write(ctx context.Context, tx bun.Tx, batch []result) ([]*hookState, error) {
	if len(batch) == 0 {
		return nil, nil
	}
	var attempts []*models.Attempt
	var succeeded []string
	hooks := map[string]*hookState{}
	var disabled []*hookState
	err := func() error {
		ids := make([]string, len(batch))
		for i, r := range batch {
			ids[i] = r.d.ID
		}
		var kept []string // a delivery goes with its webhook, also while being attempted
		if err := tx.NewSelect().Table("webhook_deliveries").Column("id").Where("id IN (?)", bun.List(ids)).Scan(ctx, &kept); err != nil {
			return err
		}
		exists := map[string]bool{}
		for _, id := range kept {
			exists[id] = true
		}
		for _, r := range batch {
			if !exists[r.d.ID] {
				continue
			}
			if r.cancelled {
				if _, err := tx.NewUpdate().Table("webhook_deliveries").Set("lease_until = NULL").Where("id = ?", r.d.ID).Exec(ctx); err != nil {
					return err
				}
				continue
			}
			h := hooks[r.w.ID]
			if h == nil {
				h = &hookState{w: r.w, failingSince: r.w.FailingSince}
				hooks[r.w.ID] = h
			}
			del := r.d
			del.Attempts++
			del.NextAttemptAt, del.LeaseUntil, del.UpdatedAt = nil, nil, r.at
			test := del.Event == TestEvent
			switch {
			case r.err == "":
				del.Status = models.DeliverySucceeded
				if !test && h.failingSince != nil {
					h.failingSince, h.changed = nil, true
				}
			case r.status == http.StatusGone && !test:
				del.Status = models.DeliveryFailed
				h.disabledReason, h.changed = "endpoint answered 410 Gone", true
			default:
				del.Status = models.DeliveryFailed
				if !test && del.Attempts < len(d.s.cfg.Schedule) {
					next := r.at.Add(max(jitter(d.s.cfg.Schedule[del.Attempts]), r.retryAfter))
					del.Status, del.NextAttemptAt = models.DeliveryPending, &next
				}
				if !test {
					if h.failingSince == nil {
						at := r.at
						h.failingSince, h.changed = &at, true
					} else if r.at.Sub(*h.failingSince) >= d.s.cfg.DisableAfter && h.disabledReason == "" {
						h.disabledReason, h.changed = "endpoint failed for "+d.s.cfg.DisableAfter.String(), true
					}
				}
			}
			attempts = append(attempts, &models.Attempt{
				DeliveryID: del.ID, AttemptedAt: r.at, StatusCode: r.status, DurationMS: r.duration.Milliseconds(),
				Error: r.err, Response: r.response, NextRetryAt: del.NextAttemptAt,
			})
			if del.Status == models.DeliverySucceeded {
				succeeded = append(succeeded, del.ID) // the common case: one statement for all
				continue
			}
			if _, err := tx.NewUpdate().Model(del).Column("status", "attempts", "next_attempt_at", "lease_until", "updated_at").WherePK().Exec(ctx); err != nil {
				return err
			}
		}
		if len(succeeded) > 0 {
			if _, err := tx.NewUpdate().Table("webhook_deliveries").
				Set("status = ?", models.DeliverySucceeded).Set("attempts = attempts + 1").
				Set("next_attempt_at = NULL").Set("lease_until = NULL").Set("updated_at = ?", d.s.now()).
				Where("id IN (?)", bun.List(succeeded)).Exec(ctx); err != nil {
				return err
			}
		}
		for len(attempts) > 0 {
			chunk := attempts[:min(len(attempts), insertChunk)]
			attempts = attempts[len(chunk):]
			if _, err := tx.NewInsert().Model(&chunk).Exec(ctx); err != nil {
				return err
			}
		}
		for _, h := range hooks {
			if !h.changed {
				continue
			}
			q := tx.NewUpdate().Table("webhooks").Set("failing_since = ?", h.failingSince).Where("id = ?", h.w.ID)
			if h.disabledReason != "" {
				// Only an endpoint nobody changed meanwhile: a user may have just enabled it again.
				q = q.Set("active = ?", false).Set("disabled_reason = ?", h.disabledReason).Set("updated_at = ?", d.s.now()).
					Where("active = ?", true).Where("disabled_reason = ''")
				disabled = append(disabled, h)
			}
			if _, err := q.Exec(ctx); err != nil {
				return err
			}
		}
		return nil
	}()
	return disabled, err
}

// jitter adds up to a fifth of d, so that retries of many deliveries
// that failed together spread out.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d + rand.N(d/5+1) //nolint:gosec // spreads retries, guards nothing
}
