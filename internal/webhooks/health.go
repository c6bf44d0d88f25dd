package webhooks

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/models"
)

// lagDegraded is how late the oldest due delivery may be before the
// dispatcher counts as behind.
const lagDegraded = time.Minute

func splitEvents(list string) []string { return strings.Split(list, ",") }

// QueueStats are the outbox's figures.
type QueueStats struct {
	// Pending deliveries, and how many of them are due now.
	Pending, Due int
	// OldestPending is the age of the oldest pending delivery; Lag how
	// long the oldest due one has waited past its time.
	OldestPending, Lag time.Duration
	// Disabled endpoints (410 Gone, or failing too long).
	Disabled int
}

// Stats returns the outbox's figures across organizations.
func (s *Service) Stats(ctx context.Context) (QueueStats, error) {
	var st QueueStats
	now := s.now()
	var row struct {
		Pending int        `bun:"pending"`
		Due     int        `bun:"due"`
		Oldest  *time.Time `bun:"oldest"`
		OldDue  *time.Time `bun:"old_due"`
	}
	err := s.db.NewSelect().Table("webhook_deliveries").
		ColumnExpr("COUNT(*) AS pending").
		ColumnExpr("COALESCE(SUM(CASE WHEN next_attempt_at <= ? THEN 1 ELSE 0 END), 0) AS due", now).
		ColumnExpr("MIN(created_at) AS oldest").
		ColumnExpr("MIN(CASE WHEN next_attempt_at <= ? THEN next_attempt_at END) AS old_due", now).
		Where("status = ?", models.DeliveryPending).Scan(ctx, &row)
	if err != nil {
		return st, fmt.Errorf("webhooks: stats: %w", err)
	}
	st.Pending, st.Due = row.Pending, row.Due
	if row.Oldest != nil {
		st.OldestPending = now.Sub(*row.Oldest)
	}
	if row.OldDue != nil {
		st.Lag = now.Sub(*row.OldDue)
	}
	n, err := s.db.NewSelect().Model((*models.Webhook)(nil)).Where("disabled_reason != ''").Count(ctx)
	if err != nil {
		return st, fmt.Errorf("webhooks: stats: %w", err)
	}
	st.Disabled = int(n)
	return st, nil
}

// HealthCheck is the webhooks component's check: unhealthy when the
// dispatcher is not running or the outbox cannot be read, degraded when
// due deliveries wait over a minute; the detail gives the figures.
func (d *Dispatcher) HealthCheck(ctx context.Context) (health.Status, string) {
	st, err := d.s.Stats(ctx)
	if err != nil {
		return health.Unhealthy, "outbox unreadable"
	}
	detail := fmt.Sprintf("queue depth %d (%d due), oldest pending %s, %d disabled endpoints",
		st.Pending, st.Due, st.OldestPending.Round(time.Second), st.Disabled)
	switch {
	case !d.Running():
		return health.Unhealthy, "dispatcher not running; " + detail
	case st.Lag > lagDegraded:
		return health.Degraded, fmt.Sprintf("deliveries %s late; %s", st.Lag.Round(time.Second), detail)
	}
	return health.Healthy, detail
}
