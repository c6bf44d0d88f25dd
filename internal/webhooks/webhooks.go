// Package webhooks delivers an organization's agent events to its HTTP
// endpoints, signed per Standard Webhooks. Deliveries are rows of an
// outbox (webhook_deliveries) written from the durable event log and
// claimed by the dispatcher with a lease, so that none is lost when the
// server stops or dies; attempts are retried on a schedule.
package webhooks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/db"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/idempotency"
	"github.com/neuais/neuais/internal/netguard"
	"github.com/neuais/neuais/internal/secrets"
	"github.com/neuais/neuais/models"
)

// Limits of a webhook's fields.
const (
	MaxURLLength    = 2048
	MinSecretLength = 8
	MaxSecretLength = 256
	// AllEvents subscribes to every event type.
	AllEvents = "*"
	// RotationOverlap is how long a rotated-out secret keeps signing.
	RotationOverlap = 24 * time.Hour
	// TestEvent is the event type of the messages POST …/test sends.
	TestEvent = "webhook.test"
)

// Config is the delivery policy (config.Config's webhook settings).
type Config struct {
	// Secrets seals webhook secrets and the create responses idempotency keeps.
	Secrets *secrets.Keyring
	// AllowPrivate lets deliveries reach loopback and private addresses.
	AllowPrivate bool
	Timeout      time.Duration
	// Schedule is the wait before each attempt; its length is the number of attempts.
	Schedule     []time.Duration
	Workers      int
	DisableAfter time.Duration
	// Now is the clock of the retry schedule (time.Now when nil); tests
	// move it instead of sleeping.
	Now func() time.Time
}

// Service manages webhooks and their deliveries.
type Service struct {
	db   *bun.DB
	cfg  Config
	wake func()
}

// New returns the webhook service; wake, called after a change that
// makes deliveries due (a test, a retry), is the dispatcher's Wake.
func New(db *bun.DB, cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{db: db, cfg: cfg, wake: func() {}}
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

// CreateInput is a new webhook: its URL, the events it receives, and
// optionally its secret (a whsec_ one is generated when nil).
type CreateInput struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Secret *string  `json:"secret,omitempty"`
}

// UpdateInput changes the fields given.
type UpdateInput struct {
	URL    *string  `json:"url,omitempty"`
	Events []string `json:"events,omitempty"`
	Active *bool    `json:"active,omitempty"`
}

// validateURL accepts absolute http and https URLs; a literal address
// that is not public is refused unless private destinations are allowed
// (names are checked on the address dialled, at each delivery).
func (s *Service) validateURL(raw string) error {
	if raw == "" || len(raw) > MaxURLLength {
		return models.Invalid("url", fmt.Sprintf("must be an http or https URL of at most %d characters", MaxURLLength))
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return models.Invalid("url", "must be an absolute http or https URL without credentials")
	}
	if !s.cfg.AllowPrivate {
		host := u.Hostname()
		if ip, err := netip.ParseAddr(host); err == nil && !netguard.Public(ip) {
			return models.Invalid("url", "must not point to a loopback, private or link-local address")
		}
		if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
			return models.Invalid("url", "must not point to a loopback, private or link-local address")
		}
	}
	return nil
}

// normalizeEvents checks events: the contract's six or "*", at least one.
func normalizeEvents(evs []string) ([]string, error) {
	if len(evs) == 0 {
		return nil, models.Invalid("events", "must name at least one event")
	}
	var out []string
	for _, e := range evs {
		if e != AllEvents && !events.ValidType(e) {
			return nil, models.Invalid("events", fmt.Sprintf("unknown event %q: must be %s or %q", e, strings.Join(events.AgentEventTypes, ", "), AllEvents))
		}
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	if slices.Contains(out, AllEvents) {
		out = []string{AllEvents}
	}
	return out, nil
}

func validateSecret(secret string) error {
	if len(secret) < MinSecretLength || len(secret) > MaxSecretLength || strings.TrimSpace(secret) != secret {
		return models.Invalid("secret", fmt.Sprintf("must be %d to %d characters without surrounding spaces", MinSecretLength, MaxSecretLength))
	}
	if strings.HasPrefix(secret, SecretPrefix) {
		key, err := SigningKey(secret)
		if err != nil || len(key) < 24 || len(key) > 64 {
			return models.Invalid("secret", "a "+SecretPrefix+" secret must be followed by the base64 of 24 to 64 bytes")
		}
	}
	return nil
}

func subscribes(w *models.Webhook, event string) bool {
	// Only the contract's agent events are delivered, never invoice.created.
	return events.ValidType(event) && (slices.Contains(w.Events, AllEvents) || slices.Contains(w.Events, event))
}

func (s *Service) loaded(w *models.Webhook) error {
	w.Events = splitEvents(w.EventList)
	return w.OpenSecrets(s.cfg.Secrets)
}

func (s *Service) store(w *models.Webhook) {
	w.EventList = strings.Join(w.Events, ",")
	w.SealSecrets(s.cfg.Secrets)
}

// Create adds a webhook that receives the events written after it. The
// secret is in the result only. With an idempotency key, a retry with the
// same input within 24 hours returns the first result (kept sealed: it
// holds the secret). Errors: unauthorized, forbidden (viewer),
// invalid_request on "url", "events" or "secret", conflict (key reused).
func (s *Service) Create(ctx context.Context, in CreateInput, idempotencyKey string) (*models.NewWebhook, error) {
	who, err := models.RequireWriter(ctx)
	if err != nil {
		return nil, err
	}
	if err := s.validateURL(in.URL); err != nil {
		return nil, err
	}
	evs, err := normalizeEvents(in.Events)
	if err != nil {
		return nil, err
	}
	var secret string
	if in.Secret != nil {
		if err := validateSecret(*in.Secret); err != nil {
			return nil, err
		}
		secret = *in.Secret
	} else if secret, err = NewSecret(); err != nil {
		return nil, err
	}
	idem, err := idempotency.New(who.OrgID, "createWebhook", idempotencyKey, in)
	idem = idem.SealedWith(s.cfg.Secrets)
	if err != nil {
		return nil, err
	}
	now := s.now()
	w := &models.Webhook{
		ID: models.NewID(models.PrefixWebhook), OrgID: who.OrgID, URL: in.URL, Events: evs, Secret: secret,
		Active: true, CreatedAt: now, UpdatedAt: now,
	}
	out, _, err := idempotency.Do(ctx, s.db, idem, func(ctx context.Context, tx bun.Tx) (*models.NewWebhook, string, error) {
		// Under the event writers' order: every event after this id
		// commits after the webhook exists.
		if err := tx.NewSelect().Model((*models.Event)(nil)).ColumnExpr("COALESCE(MAX(id), 0)").Scan(ctx, &w.AfterEventID); err != nil {
			return nil, "", fmt.Errorf("webhooks: newest event: %w", err)
		}
		s.store(w)
		if _, err := tx.NewInsert().Model(w).Exec(ctx); err != nil {
			return nil, "", fmt.Errorf("webhooks: insert: %w", err)
		}
		return &models.NewWebhook{Webhook: w, CreatedSecret: secret}, w.ID, nil
	})
	return out, err
}

func (s *Service) get(ctx context.Context, idb bun.IDB, orgID, id string) (*models.Webhook, error) {
	w := new(models.Webhook)
	err := idb.NewSelect().Model(w).Where("id = ?", id).Where("org_id = ?", orgID).Scan(ctx)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, models.NotFound("webhook")
	}
	if err != nil {
		return nil, fmt.Errorf("webhooks: get: %w", err)
	}
	return w, s.loaded(w)
}

// Get returns one of the caller's organization's webhooks. Errors:
// unauthorized, not_found (also another organization's).
func (s *Service) Get(ctx context.Context, id string) (*models.Webhook, error) {
	who, err := models.RequireIdentity(ctx)
	if err != nil {
		return nil, err
	}
	return s.get(ctx, s.db, who.OrgID, id)
}

var sortColumns = map[string]string{"created_at": "created_at", "createdAt": "created_at", "updated_at": "updated_at", "updatedAt": "updated_at", "url": "url"}

// List returns a page of the organization's webhooks, oldest first by
// default. Errors: unauthorized, invalid_request on "limit", "offset", "sort".
func (s *Service) List(ctx context.Context, p models.ListParams) (*models.WebhookPage, error) {
	who, err := models.RequireIdentity(ctx)
	if err != nil {
		return nil, err
	}
	order, err := p.Validate(sortColumns, models.SortOrder{Column: "created_at"})
	if err != nil {
		return nil, err
	}
	items := []*models.Webhook{}
	total, err := db.ScanAndCount(ctx, s.db, s.db.NewSelect().Model(&items).Where("org_id = ?", who.OrgID).OrderExpr(order.OrderExpr()+", id"), p.Limit, p.Offset)
	if err != nil {
		return nil, fmt.Errorf("webhooks: list: %w", err)
	}
	for _, w := range items {
		if err := s.loaded(w); err != nil {
			return nil, err
		}
	}
	return &models.WebhookPage{Items: items, Total: int(total), Limit: p.Limit, Offset: p.Offset, HasMore: p.Offset+len(items) < int(total)}, nil
}

// Update changes the url, events or active flag given. Setting active to
// true enables a disabled endpoint again (its reason cleared, its
// pending deliveries resumed). Errors: unauthorized, forbidden, not_found,
// invalid_request on "url" or "events".
func (s *Service) Update(ctx context.Context, id string, in UpdateInput) (*models.Webhook, error) {
	who, err := models.RequireWriter(ctx)
	if err != nil {
		return nil, err
	}
	if in.URL != nil {
		if err := s.validateURL(*in.URL); err != nil {
			return nil, err
		}
	}
	var evs []string
	if in.Events != nil {
		if evs, err = normalizeEvents(in.Events); err != nil {
			return nil, err
		}
	}
	var w *models.Webhook
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if w, err = s.get(ctx, tx, who.OrgID, id); err != nil {
			return err
		}
		if in.URL != nil {
			w.URL = *in.URL
		}
		if evs != nil {
			w.Events = evs
		}
		if in.Active != nil {
			w.Active = *in.Active
			if w.Active {
				w.DisabledReason, w.FailingSince = "", nil
			}
		}
		w.UpdatedAt = s.now()
		s.store(w)
		_, err := tx.NewUpdate().Model(w).Column("url", "events", "active", "disabled_reason", "failing_since", "updated_at").WherePK().Exec(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	if w.Active {
		s.wake()
	}
	return w, nil
}

// Delete removes a webhook, its deliveries and the idempotency records of
// its create (which hold its secret). Errors: unauthorized, forbidden, not_found.
func (s *Service) Delete(ctx context.Context, id string) (*models.Webhook, error) {
	who, err := models.RequireWriter(ctx)
	if err != nil {
		return nil, err
	}
	var w *models.Webhook
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if w, err = s.get(ctx, tx, who.OrgID, id); err != nil {
			return err
		}
		if _, err := tx.NewDelete().Model(w).WherePK().Exec(ctx); err != nil {
			return fmt.Errorf("webhooks: delete: %w", err)
		}
		return idempotency.Forget(ctx, tx, w.ID)
	})
	return w, err
}

// RotateSecret gives the webhook a new whsec_ secret, returned only here;
// the current one keeps signing beside it for RotationOverlap. Errors:
// unauthorized, forbidden, not_found.
func (s *Service) RotateSecret(ctx context.Context, id string) (*models.NewWebhook, error) {
	who, err := models.RequireWriter(ctx)
	if err != nil {
		return nil, err
	}
	secret, err := NewSecret()
	if err != nil {
		return nil, err
	}
	var w *models.Webhook
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if w, err = s.get(ctx, tx, who.OrgID, id); err != nil {
			return err
		}
		now := s.now()
		until := now.Add(RotationOverlap)
		w.PreviousSecret, w.PreviousExpiresAt, w.Secret, w.UpdatedAt = w.Secret, &until, secret, now
		s.store(w)
		_, err := tx.NewUpdate().Model(w).Column("secret", "previous_secret", "previous_expires_at", "updated_at").WherePK().Exec(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &models.NewWebhook{Webhook: w, CreatedSecret: secret}, nil
}

// Test queues a signed webhook.test message to the webhook, sent at once
// (also to an inactive one). Errors: unauthorized, forbidden, not_found.
func (s *Service) Test(ctx context.Context, id string) (*models.Delivery, error) {
	who, err := models.RequireWriter(ctx)
	if err != nil {
		return nil, err
	}
	w, err := s.get(ctx, s.db, who.OrgID, id)
	if err != nil {
		return nil, err
	}
	now := s.now()
	payload, err := marshalPayload(events.AgentEvent{Event: TestEvent, Timestamp: now})
	if err != nil {
		return nil, err
	}
	d := &models.Delivery{
		ID: models.NewID(models.PrefixDelivery), WebhookID: w.ID, OrgID: w.OrgID, MessageID: models.NewID("msg_"),
		Event: TestEvent, Payload: payload, Status: models.DeliveryPending, NextAttemptAt: &now, CreatedAt: now, UpdatedAt: now,
	}
	if _, err := s.db.NewInsert().Model(d).Exec(ctx); err != nil {
		return nil, fmt.Errorf("webhooks: test: %w", err)
	}
	d.AttemptList = []*models.Attempt{}
	s.wake()
	return d, nil
}

// DeliveryFilter selects a webhook's deliveries; Status "" keeps all.
type DeliveryFilter struct {
	Status string
}

var deliverySortColumns = map[string]string{"created_at": "created_at", "createdAt": "created_at", "updated_at": "updated_at", "updatedAt": "updated_at"}

// Deliveries returns a page of a webhook's deliveries, newest first by
// default, each with its attempts. Errors: unauthorized, not_found,
// invalid_request on "status", "limit", "offset", "sort".
func (s *Service) Deliveries(ctx context.Context, id string, f DeliveryFilter, p models.ListParams) (*models.DeliveryPage, error) {
	who, err := models.RequireIdentity(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.get(ctx, s.db, who.OrgID, id); err != nil {
		return nil, err
	}
	if f.Status != "" && !slices.Contains([]string{models.DeliveryPending, models.DeliverySucceeded, models.DeliveryFailed}, f.Status) {
		return nil, models.Invalid("status", "must be pending, succeeded or failed")
	}
	order, err := p.Validate(deliverySortColumns, models.SortOrder{Column: "created_at", Desc: true})
	if err != nil {
		return nil, err
	}
	items := []*models.Delivery{}
	q := s.db.NewSelect().Model(&items).Where("webhook_id = ?", id).
		Relation("AttemptList", func(q *bun.SelectQuery) *bun.SelectQuery { return q.Order("id") })
	if f.Status != "" {
		q = q.Where("status = ?", f.Status)
	}
	total, err := db.ScanAndCount(ctx, s.db, q.OrderExpr(order.OrderExpr()+", id"), p.Limit, p.Offset)
	if err != nil {
		return nil, fmt.Errorf("webhooks: deliveries: %w", err)
	}
	for _, d := range items {
		if d.AttemptList == nil {
			d.AttemptList = []*models.Attempt{}
		}
	}
	return &models.DeliveryPage{Items: items, Total: int(total), Limit: p.Limit, Offset: p.Offset, HasMore: p.Offset+len(items) < int(total)}, nil
}

// Retry makes a delivery due now, for one more attempt (after a failure,
// or again after a success). Errors: unauthorized, forbidden, not_found
// (the webhook or the delivery), conflict (the webhook is not active).
func (s *Service) Retry(ctx context.Context, id, deliveryID string) (*models.Delivery, error) {
	who, err := models.RequireWriter(ctx)
	if err != nil {
		return nil, err
	}
	d := new(models.Delivery)
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		w, err := s.get(ctx, tx, who.OrgID, id)
		if err != nil {
			return err
		}
		if !w.Active {
			return models.Errorf(models.CodeConflict, "Webhook is %s; set active to true first", w.Status())
		}
		err = tx.NewSelect().Model(d).Where("id = ?", deliveryID).Where("webhook_id = ?", w.ID).
			Relation("AttemptList", func(q *bun.SelectQuery) *bun.SelectQuery { return q.Order("id") }).Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return models.NotFound("delivery")
		} else if err != nil {
			return fmt.Errorf("webhooks: delivery: %w", err)
		}
		now := s.now()
		d.Status, d.NextAttemptAt, d.UpdatedAt = models.DeliveryPending, &now, now
		_, err = tx.NewUpdate().Model(d).Column("status", "next_attempt_at", "updated_at").WherePK().Exec(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	if d.AttemptList == nil {
		d.AttemptList = []*models.Attempt{}
	}
	s.wake()
	return d, nil
}

// Reseal seals again with kr's current key the webhook secrets stored
// under an older key, and the create responses idempotency keeps; it
// returns how many values it changed. The server runs it on start.
func Reseal(ctx context.Context, db *bun.DB, kr *secrets.Keyring) (int, error) {
	var rows []*models.Webhook
	if err := db.NewSelect().Model(&rows).Column("id", "secret", "previous_secret").Scan(ctx); err != nil {
		return 0, fmt.Errorf("webhooks: reseal: %w", err)
	}
	n := 0
	for _, w := range rows {
		if kr.Current(w.SealedSecret) && (w.SealedPrevious == "" || kr.Current(w.SealedPrevious)) {
			continue
		}
		old := w.SealedSecret
		if err := w.OpenSecrets(kr); err != nil {
			return n, fmt.Errorf("webhooks: reseal %s: %w", w.ID, err)
		}
		w.SealSecrets(kr)
		if _, err := db.NewUpdate().Model(w).Column("secret", "previous_secret").WherePK().Where("secret = ?", old).Exec(ctx); err != nil {
			return n, fmt.Errorf("webhooks: reseal: %w", err)
		}
		n++
	}
	m, err := idempotency.Reseal(ctx, db, kr, "createWebhook")
	return n + m, err
}
