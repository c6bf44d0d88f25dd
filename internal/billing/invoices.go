package billing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/db"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/models"
)

const closedThrough = "closed_through" // billing_state: the last period closed

// CloseMonths invoices every organization for each month that has ended
// and has no invoice yet, from the month it was created (or after the last
// closed one), catching up months missed while the server was down. The
// unique (org_id, period) makes it idempotent, also with several
// instances at once: a lost race inserts nothing and writes no event. It
// returns how many invoices it created.
func (s *Service) CloseMonths(ctx context.Context) (int, error) {
	now := s.clock.Now().UTC()
	current := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	var since time.Time
	var state string
	err := s.db.NewSelect().Table("billing_state").Column("value").Where("name = ?", closedThrough).Scan(ctx, &state)
	switch {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return 0, fmt.Errorf("billing: close: %w", err)
	default:
		if t, err := time.Parse("2006-01", state); err == nil {
			since = t.AddDate(0, 1, 0)
		}
	}
	var orgs []models.Organization
	if err := s.db.NewSelect().Model(&orgs).Column("id", "created_at").Scan(ctx); err != nil {
		return 0, fmt.Errorf("billing: close: %w", err)
	}
	created := 0
	for _, org := range orgs {
		c := org.CreatedAt.UTC()
		p := maxTime(since, time.Date(c.Year(), c.Month(), 1, 0, 0, 0, 0, time.UTC))
		for ; p.Before(current); p = p.AddDate(0, 1, 0) {
			ok, err := s.closeMonth(ctx, org.ID, p, now)
			if err != nil {
				return created, err
			}
			if ok {
				created++
			}
		}
	}
	last := current.AddDate(0, -1, 0).Format("2006-01")
	if _, err := s.db.NewRaw(`INSERT INTO billing_state (name, value) VALUES (?, ?)
ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value WHERE billing_state.value < EXCLUDED.value`, closedThrough, last).Exec(ctx); err != nil {
		return created, fmt.Errorf("billing: close: %w", err)
	}
	s.lastClose.Store(now.UnixNano())
	return created, nil
}

// closeMonth writes org's invoice for the month from start, with its
// invoice.created event in the same transaction; false when it exists.
func (s *Service) closeMonth(ctx context.Context, orgID string, start, now time.Time) (bool, error) {
	u, err := s.OrgUsage(ctx, orgID, start)
	if err != nil {
		return false, err
	}
	inv := &models.Invoice{
		ID: models.NewID(models.PrefixInvoice), OrgID: orgID, Period: u.Period, Status: models.InvoiceOpen,
		ComputeMicro: u.Usage.ComputeHours, StorageMicro: u.Usage.StorageGB, NetworkMicro: u.Usage.NetworkGB,
		Compute: u.Cost.Compute, Storage: u.Cost.Storage, Network: u.Cost.Network, Amount: u.Cost.Total,
		DueDate: start.AddDate(0, 1, 0).Format(time.DateOnly), CreatedAt: now, UpdatedAt: now,
	}
	inserted := false
	err = s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.NewInsert().Model(inv).On("CONFLICT (org_id, period) DO NOTHING").Exec(ctx)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		inserted = true
		// Written straight into the log, not published on the
		// organization's agent topic: live agent streams never carry it.
		return events.Insert(ctx, tx, []events.AgentEvent{{Event: events.InvoiceCreated, Timestamp: now,
			Data: events.AgentEventData{OrgID: orgID, InvoiceID: inv.ID, Period: inv.Period, Status: string(inv.Status)}}})
	})
	if err != nil {
		return false, fmt.Errorf("billing: close %s %s: %w", orgID, u.Period, err)
	}
	return inserted, nil
}

var invoiceSort = map[string]string{"period": "period", "created_at": "created_at", "createdAt": "created_at", "amount": "amount"}

// Invoices lists the caller's organization's invoices, newest period
// first. Errors: unauthorized, forbidden (not an admin), invalid_request
// on limit, offset, sort.
func (s *Service) Invoices(ctx context.Context, p models.ListParams) (*models.InvoicePage, error) {
	who, err := models.RequireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	order, err := p.Validate(invoiceSort, models.SortOrder{Column: "period", Desc: true})
	if err != nil {
		return nil, err
	}
	items := []*models.Invoice{}
	n, err := db.ScanAndCount(ctx, s.db, s.db.NewSelect().Model(&items).Where("org_id = ?", who.OrgID).OrderExpr(order.OrderExpr()), p.Limit, p.Offset)
	if err != nil {
		return nil, fmt.Errorf("billing: invoices: %w", err)
	}
	return &models.InvoicePage{Items: items, Total: int(n), Limit: p.Limit, Offset: p.Offset, HasMore: p.Offset+len(items) < int(n)}, nil
}

// Invoice returns one of the caller's organization's invoices. Errors:
// unauthorized, forbidden (not an admin), not_found (also another
// organization's).
func (s *Service) Invoice(ctx context.Context, id string) (*models.Invoice, error) {
	who, err := models.RequireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	return s.find(ctx, who.OrgID, id)
}

func (s *Service) find(ctx context.Context, orgID, id string) (*models.Invoice, error) {
	inv := new(models.Invoice)
	q := s.db.NewSelect().Model(inv).Where("id = ?", id)
	if orgID != "" {
		q = q.Where("org_id = ?", orgID)
	}
	if err := q.Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, models.Errorf(models.CodeNotFound, "Invoice %s not found", id)
		}
		return nil, fmt.Errorf("billing: invoice: %w", err)
	}
	return inv, nil
}

// AllInvoices lists every organization's invoices (orgID empty) or one's,
// newest first, for the operator.
func (s *Service) AllInvoices(ctx context.Context, orgID string) ([]*models.Invoice, error) {
	items := []*models.Invoice{}
	q := s.db.NewSelect().Model(&items).OrderExpr("period DESC, org_id ASC")
	if orgID != "" {
		q = q.Where("org_id = ?", orgID)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, fmt.Errorf("billing: invoices: %w", err)
	}
	return items, nil
}

// SetStatus records the operator's paid or void on an open invoice.
// Errors: not_found, conflict (not open), invalid_request on status.
func (s *Service) SetStatus(ctx context.Context, id string, status models.InvoiceStatus) (*models.Invoice, error) {
	if status != models.InvoicePaid && status != models.InvoiceVoid {
		return nil, models.Invalid("status", "must be paid or void")
	}
	res, err := s.db.NewUpdate().Model((*models.Invoice)(nil)).Set("status = ?", status).Set("updated_at = ?", s.clock.Now()).
		Where("id = ?", id).Where("status = ?", models.InvoiceOpen).Exec(ctx)
	if err != nil {
		return nil, fmt.Errorf("billing: set status: %w", err)
	}
	inv, err := s.find(ctx, "", id)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil, models.Errorf(models.CodeConflict, "Invoice %s is %s, not open", id, inv.Status)
	}
	return inv, nil
}

// LastClose is the clock time of the last finished month close, zero before one.
func (s *Service) LastClose() time.Time {
	if n := s.lastClose.Load(); n != 0 {
		return time.Unix(0, n).UTC()
	}
	return time.Time{}
}

// RunMonthClose closes ended months now and then every interval until ctx ends.
func (s *Service) RunMonthClose(ctx context.Context, every time.Duration, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := s.CloseMonths(ctx); err != nil && ctx.Err() == nil {
			logger.Warn("billing: month close", "err", err)
		} else if n > 0 {
			logger.Info("billing: month close", "invoices", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
