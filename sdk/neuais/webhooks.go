package neuais

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"time"
)

// Webhook is an endpoint that receives the organization's events, without
// its secret.
type Webhook struct {
	ID     string   `json:"id"`
	URL    string   `json:"url"`
	Events []string `json:"events"` // event types, or "*" for all
	Active bool     `json:"active"`
	// Status is active, inactive (paused by a user) or disabled (by the
	// platform, for DisabledReason).
	Status                  string     `json:"status"`
	DisabledReason          string     `json:"disabled_reason,omitempty"`
	FailingSince            *time.Time `json:"failing_since"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"` // the rotated-out secret signs beside the new one until then
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
}

// NewWebhook is a webhook just created or given a new secret, with the
// secret, which the server shows only then.
type NewWebhook struct {
	ID                      string     `json:"id"`
	URL                     string     `json:"url"`
	Events                  []string   `json:"events"`
	Active                  bool       `json:"active"`
	Status                  string     `json:"status"`
	Secret                  string     `json:"secret"` // whsec_… unless chosen at creation
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at"`
	CreatedAt               time.Time  `json:"created_at"`
	UpdatedAt               time.Time  `json:"updated_at"`
}

// CreateWebhookRequest subscribes URL to Events (or "*"). Secret is
// whsec_ and base64 of 24 to 64 bytes, or 8 to 256 characters signing as
// they are; empty, the server generates a whsec_ one.
type CreateWebhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
	Secret string   `json:"secret,omitempty"`
	// IdempotencyKey makes retries of the same create safe; when empty the
	// client makes one for this call.
	IdempotencyKey string `json:"-"`
}

// UpdateWebhookRequest changes a webhook; nil fields stay.
type UpdateWebhookRequest struct {
	URL    *string  `json:"url,omitempty"`
	Events []string `json:"events,omitempty"`
	Active *bool    `json:"active,omitempty"` // true also enables a disabled webhook again
}

// WebhookList is one page of webhooks.
type WebhookList struct {
	Webhooks []Webhook `json:"webhooks"`
	Page
}

// WebhookDelivery is one event (or test message) to one webhook.
type WebhookDelivery struct {
	ID            string           `json:"id"`
	WebhookID     string           `json:"webhook_id"`
	MessageID     string           `json:"message_id"` // the event id: webhook-id, the same on every attempt
	Event         string           `json:"event"`      // the event type, or webhook.test
	Status        string           `json:"status"`     // pending, succeeded or failed
	AttemptCount  int              `json:"attempt_count"`
	NextAttemptAt *time.Time       `json:"next_attempt_at"`
	CreatedAt     time.Time        `json:"created_at"`
	UpdatedAt     time.Time        `json:"updated_at"`
	Attempts      []WebhookAttempt `json:"attempts"` // oldest first
}

// WebhookAttempt is one attempt of a delivery.
type WebhookAttempt struct {
	AttemptedAt time.Time  `json:"attempted_at"`
	StatusCode  int        `json:"status_code,omitempty"` // 0: no answer (timeout, connection error)
	DurationMS  int        `json:"duration_ms"`
	Error       string     `json:"error,omitempty"` // why it failed
	Response    string     `json:"response"`        // the answer's first KiB
	NextRetryAt *time.Time `json:"next_retry_at"`
}

// WebhookDeliveryList is one page of deliveries.
type WebhookDeliveryList struct {
	Deliveries []WebhookDelivery `json:"deliveries"`
	Page
}

// ListDeliveriesOptions filter and page a webhook's deliveries (newest
// first); the route takes no Fields (invalid_request).
type ListDeliveriesOptions struct {
	ListOptions
	Status string // pending, succeeded or failed
}

func (o *ListDeliveriesOptions) values() url.Values {
	if o == nil {
		return url.Values{}
	}
	q := o.ListOptions.values()
	if o.Status != "" {
		q.Set("status", o.Status)
	}
	return q
}

// WebhooksService calls the /webhooks routes.
type WebhooksService struct{ c *Client }

// Webhooks returns the webhooks API.
func (c *Client) Webhooks() *WebhooksService { return &WebhooksService{c} }

func webhookPath(id string, rest ...string) string {
	p := "/webhooks/" + url.PathEscape(id)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// Create makes a webhook, which receives the events written from then on.
func (s *WebhooksService) Create(req CreateWebhookRequest) (*NewWebhook, error) {
	return s.CreateContext(s.c.ctx, req)
}

// CreateContext is Create with a context. Errors: forbidden (viewer),
// invalid_request (url, events, secret), conflict (IdempotencyKey reused
// with another request).
func (s *WebhooksService) CreateContext(ctx context.Context, req CreateWebhookRequest) (*NewWebhook, error) {
	key := req.IdempotencyKey
	if key == "" {
		key = newIdempotencyKey()
	}
	var w NewWebhook
	if err := s.c.do(ctx, http.MethodPost, "/webhooks", nil, req, &w, "Idempotency-Key", key); err != nil {
		return nil, err
	}
	return &w, nil
}

// List returns a page of the organization's webhooks, oldest first.
func (s *WebhooksService) List(opts ...*ListOptions) (*WebhookList, error) {
	return s.ListContext(s.c.ctx, first(opts))
}

// ListContext is List with a context; opts may be nil (Sort: created_at,
// updated_at or url). Errors: invalid_request.
func (s *WebhooksService) ListContext(ctx context.Context, opts *ListOptions) (*WebhookList, error) {
	var list WebhookList
	if err := s.c.do(ctx, http.MethodGet, "/webhooks", opts.values(), nil, &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// All yields every webhook, over all pages.
func (s *WebhooksService) All(opts ...*ListOptions) iter.Seq2[Webhook, error] {
	return s.AllContext(s.c.ctx, first(opts))
}

// AllContext is All with a context; opts may be nil.
func (s *WebhooksService) AllContext(ctx context.Context, opts *ListOptions) iter.Seq2[Webhook, error] {
	o := ListOptions{}
	if opts != nil {
		o = *opts
	}
	return pages(&o, func() ([]Webhook, Page, error) {
		list, err := s.ListContext(ctx, &o)
		if err != nil {
			return nil, Page{}, err
		}
		return list.Webhooks, list.Page, nil
	})
}

// Get returns one webhook.
func (s *WebhooksService) Get(id string) (*Webhook, error) { return s.GetContext(s.c.ctx, id) }

// GetContext is Get with a context. Errors: not_found.
func (s *WebhooksService) GetContext(ctx context.Context, id string) (*Webhook, error) {
	return s.webhook(ctx, http.MethodGet, webhookPath(id), nil)
}

// Update changes a webhook's URL, events or active flag.
func (s *WebhooksService) Update(id string, req UpdateWebhookRequest) (*Webhook, error) {
	return s.UpdateContext(s.c.ctx, id, req)
}

// UpdateContext is Update with a context. Errors: forbidden, not_found,
// invalid_request (url, events).
func (s *WebhooksService) UpdateContext(ctx context.Context, id string, req UpdateWebhookRequest) (*Webhook, error) {
	return s.webhook(ctx, http.MethodPut, webhookPath(id), req)
}

func (s *WebhooksService) webhook(ctx context.Context, method, path string, body any) (*Webhook, error) {
	var w Webhook
	if err := s.c.do(ctx, method, path, nil, body, &w); err != nil {
		return nil, err
	}
	return &w, nil
}

// Delete removes a webhook and its deliveries.
func (s *WebhooksService) Delete(id string) error { return s.DeleteContext(s.c.ctx, id) }

// DeleteContext is Delete with a context. Errors: forbidden, not_found.
func (s *WebhooksService) DeleteContext(ctx context.Context, id string) error {
	return s.c.do(ctx, http.MethodDelete, webhookPath(id), nil, nil, nil)
}

// RotateSecret gives a webhook a new whsec_ secret, returned only here;
// the old one signs beside it for 24 hours.
func (s *WebhooksService) RotateSecret(id string) (*NewWebhook, error) {
	return s.RotateSecretContext(s.c.ctx, id)
}

// RotateSecretContext is RotateSecret with a context. Errors: forbidden,
// not_found.
func (s *WebhooksService) RotateSecretContext(ctx context.Context, id string) (*NewWebhook, error) {
	var w NewWebhook
	if err := s.c.do(ctx, http.MethodPost, webhookPath(id, "rotate-secret"), nil, nil, &w); err != nil {
		return nil, err
	}
	return &w, nil
}

// Test sends a signed webhook.test message now (one attempt) and returns
// its delivery, pending.
func (s *WebhooksService) Test(id string) (*WebhookDelivery, error) {
	return s.TestContext(s.c.ctx, id)
}

// TestContext is Test with a context. Errors: forbidden, not_found.
func (s *WebhooksService) TestContext(ctx context.Context, id string) (*WebhookDelivery, error) {
	return s.delivery(ctx, webhookPath(id, "test"))
}

// RetryDelivery attempts a delivery once more, now.
func (s *WebhooksService) RetryDelivery(id, deliveryID string) (*WebhookDelivery, error) {
	return s.RetryDeliveryContext(s.c.ctx, id, deliveryID)
}

// RetryDeliveryContext is RetryDelivery with a context. Errors:
// forbidden, not_found, conflict (the webhook is not active).
func (s *WebhooksService) RetryDeliveryContext(ctx context.Context, id, deliveryID string) (*WebhookDelivery, error) {
	return s.delivery(ctx, webhookPath(id, "deliveries", url.PathEscape(deliveryID), "retry"))
}

func (s *WebhooksService) delivery(ctx context.Context, path string) (*WebhookDelivery, error) {
	var d WebhookDelivery
	if err := s.c.do(ctx, http.MethodPost, path, nil, nil, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Deliveries returns a page of a webhook's deliveries, newest first, each
// with its attempts.
func (s *WebhooksService) Deliveries(id string, opts ...*ListDeliveriesOptions) (*WebhookDeliveryList, error) {
	return s.DeliveriesContext(s.c.ctx, id, first(opts))
}

// DeliveriesContext is Deliveries with a context; opts may be nil.
// Errors: not_found, invalid_request (status).
func (s *WebhooksService) DeliveriesContext(ctx context.Context, id string, opts *ListDeliveriesOptions) (*WebhookDeliveryList, error) {
	var list WebhookDeliveryList
	if err := s.c.do(ctx, http.MethodGet, webhookPath(id, "deliveries"), opts.values(), nil, &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// AllDeliveries yields every delivery of a webhook that matches opts, over
// all pages.
func (s *WebhooksService) AllDeliveries(id string, opts ...*ListDeliveriesOptions) iter.Seq2[WebhookDelivery, error] {
	return s.AllDeliveriesContext(s.c.ctx, id, first(opts))
}

// AllDeliveriesContext is AllDeliveries with a context; opts may be nil.
func (s *WebhooksService) AllDeliveriesContext(ctx context.Context, id string, opts *ListDeliveriesOptions) iter.Seq2[WebhookDelivery, error] {
	o := ListDeliveriesOptions{}
	if opts != nil {
		o = *opts
	}
	return pages(&o.ListOptions, func() ([]WebhookDelivery, Page, error) {
		list, err := s.DeliveriesContext(ctx, id, &o)
		if err != nil {
			return nil, Page{}, err
		}
		return list.Deliveries, list.Page, nil
	})
}
