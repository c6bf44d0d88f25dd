package apitest

import (
	"context"
	"fmt"
	"time"

	"github.com/neuais/neuais/internal/app"
	"github.com/neuais/neuais/models"
)

// CloseMonths gives organization orgID closed months: it exists since the
// first of the month months ago (UTC), agentID carried networkBytes
// through its endpoint on the first of last month, and the month close
// ran as it does when a month ends. It returns the organization's
// invoices, newest period first. agentID need not be an agent the
// organization still has: a deleted agent's usage is billed too.
func CloseMonths(ctx context.Context, a *app.App, orgID, agentID string, months int, networkBytes int64) ([]*models.Invoice, error) {
	now := time.Now().UTC()
	last := time.Date(now.Year(), now.Month()-1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := a.DB.NewUpdate().Table("organizations").Set("created_at = ?", last.AddDate(0, 1-months, 0)).Where("id = ?", orgID).Exec(ctx); err != nil {
		return nil, fmt.Errorf("apitest: backdate the organization: %w", err)
	}
	if _, err := a.DB.NewRaw(`INSERT INTO network_usage (org_id, agent_id, day, bytes) VALUES (?, ?, ?, ?)`,
		orgID, agentID, last.Format(time.DateOnly), networkBytes).Exec(ctx); err != nil {
		return nil, fmt.Errorf("apitest: network usage: %w", err)
	}
	// The server's own close at start already passed those months: forget it.
	if _, err := a.DB.NewDelete().Table("billing_state").Where("1 = 1").Exec(ctx); err != nil {
		return nil, fmt.Errorf("apitest: reset the month close: %w", err)
	}
	if _, err := a.Billing.CloseMonths(ctx); err != nil {
		return nil, err
	}
	invs, err := a.Billing.AllInvoices(ctx, orgID)
	if err != nil {
		return nil, err
	}
	if len(invs) != months {
		return nil, fmt.Errorf("apitest: %d invoices of %s, want %d", len(invs), orgID, months)
	}
	return invs, nil
}

// AdminOrgID is the organization of the server's bootstrap admin.
func AdminOrgID(ctx context.Context, a *app.App) (string, error) {
	var orgID string
	if err := a.DB.NewSelect().Table("users").Column("org_id").Where("email = ?", AdminEmail).Scan(ctx, &orgID); err != nil {
		return "", fmt.Errorf("apitest: the admin's organization: %w", err)
	}
	return orgID, nil
}
