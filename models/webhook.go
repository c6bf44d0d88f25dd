package models

import (
	"time"

	"github.com/uptrace/bun"
)

// Webhook statuses as the API shows them: active; inactive (the user set
// active to false); disabled (the platform stopped it: DisabledReason).
const (
	WebhookActive   = "active"
	WebhookInactive = "inactive"
	WebhookDisabled = "disabled"
)

// Webhook is an endpoint of an organization that receives its agent
// events. Events is the list of event types, "*" for all. Secret (and
// PreviousSecret, which keeps signing until PreviousExpiresAt after a
// rotation) are never stored as such: the columns hold them sealed.
type Webhook struct {
	bun.BaseModel `bun:"table:webhooks"`

	ID    string `bun:"id,pk"`
	OrgID string `bun:"org_id,notnull"`
	URL   string `bun:"url,notnull"`
	// Events is stored comma-separated in EventList.
	Events            []string   `bun:"-"`
	EventList         string     `bun:"events,notnull" json:"-"`
	Secret            string     `bun:"-" json:"-"`
	SealedSecret      string     `bun:"secret,notnull" json:"-"`
	PreviousSecret    string     `bun:"-" json:"-"`
	SealedPrevious    string     `bun:"previous_secret,notnull" json:"-"`
	PreviousExpiresAt *time.Time `bun:"previous_expires_at"`
	Active            bool       `bun:"active,notnull"`
	DisabledReason    string     `bun:"disabled_reason,notnull"`
	FailingSince      *time.Time `bun:"failing_since"`
	// AfterEventID is the newest event at creation: a webhook receives
	// only later ones.
	AfterEventID int64     `bun:"after_event_id,notnull"`
	CreatedAt    time.Time `bun:"created_at,notnull"`
	UpdatedAt    time.Time `bun:"updated_at,notnull"`
}

// Status is the webhook's status: WebhookActive, WebhookInactive or WebhookDisabled.
func (w *Webhook) Status() string {
	switch {
	case w.DisabledReason != "":
		return WebhookDisabled
	case !w.Active:
		return WebhookInactive
	}
	return WebhookActive
}

func (w *Webhook) secretContext() string   { return "webhook secret " + w.ID }
func (w *Webhook) previousContext() string { return "webhook previous secret " + w.ID }

// SealSecrets encrypts Secret and PreviousSecret into their columns, before a write.
func (w *Webhook) SealSecrets(s Sealer) {
	w.SealedSecret = s.Seal([]byte(w.Secret), w.secretContext())
	w.SealedPrevious = ""
	if w.PreviousSecret != "" {
		w.SealedPrevious = s.Seal([]byte(w.PreviousSecret), w.previousContext())
	}
}

// OpenSecrets decrypts the sealed columns into Secret and PreviousSecret, after a read.
func (w *Webhook) OpenSecrets(s Sealer) error {
	plain, err := s.Open(w.SealedSecret, w.secretContext())
	if err != nil {
		return err
	}
	w.Secret = string(plain)
	w.PreviousSecret = ""
	if w.SealedPrevious != "" {
		if plain, err = s.Open(w.SealedPrevious, w.previousContext()); err != nil {
			return err
		}
		w.PreviousSecret = string(plain)
	}
	return nil
}

// NewWebhook is a created webhook with its secret, shown this once.
type NewWebhook struct {
	*Webhook
	CreatedSecret string `json:"secret"`
}

// WebhookPage is one page of webhooks.
type WebhookPage struct {
	Items   []*Webhook
	Total   int
	Limit   int
	Offset  int
	HasMore bool
}

// Delivery statuses: pending (to be attempted, now or at NextAttemptAt),
// succeeded (a 2xx answer), failed (the schedule ran out, or the endpoint
// was disabled).
const (
	DeliveryPending   = "pending"
	DeliverySucceeded = "succeeded"
	DeliveryFailed    = "failed"
)

// Delivery is one event to one webhook (the outbox row), claimed by a
// dispatcher with a lease. MessageID is the webhook-id header: the
// event's id, the same on every attempt.
type Delivery struct {
	bun.BaseModel `bun:"table:webhook_deliveries"`

	ID            string     `bun:"id,pk"`
	WebhookID     string     `bun:"webhook_id,notnull"`
	OrgID         string     `bun:"org_id,notnull"`
	EventID       *int64     `bun:"event_id"`
	MessageID     string     `bun:"message_id,notnull"`
	Event         string     `bun:"event,notnull"`
	Payload       string     `bun:"payload,notnull"`
	Status        string     `bun:"status,notnull"`
	Attempts      int        `bun:"attempts,notnull"`
	NextAttemptAt *time.Time `bun:"next_attempt_at"`
	LeaseUntil    *time.Time `bun:"lease_until"`
	CreatedAt     time.Time  `bun:"created_at,notnull"`
	UpdatedAt     time.Time  `bun:"updated_at,notnull"`

	AttemptList []*Attempt `bun:"rel:has-many,join:id=delivery_id"`
}

// Attempt is one try of a delivery: when, the answer's status code (0
// when there was none), how long it took, the error, the start of the
// response body and when the next try is due (nil when none is).
type Attempt struct {
	bun.BaseModel `bun:"table:webhook_attempts"`

	ID          int64      `bun:"id,pk,autoincrement"`
	DeliveryID  string     `bun:"delivery_id,notnull"`
	AttemptedAt time.Time  `bun:"attempted_at,notnull"`
	StatusCode  int        `bun:"status_code,notnull"`
	DurationMS  int64      `bun:"duration_ms,notnull"`
	Error       string     `bun:"error,notnull"`
	Response    string     `bun:"response,notnull"`
	NextRetryAt *time.Time `bun:"next_retry_at"`
}

// DeliveryPage is one page of a webhook's deliveries.
type DeliveryPage struct {
	Items   []*Delivery
	Total   int
	Limit   int
	Offset  int
	HasMore bool
}
