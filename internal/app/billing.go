package app

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/neuais/neuais/internal/billing"
	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/internal/runtime"
)

// monthCloseInterval is how often the month close looks for ended months;
// it also runs once on start, catching up months missed while down.
const monthCloseInterval = 10 * time.Minute

// noReplicas is the metering source of a server without a runtime.
type noReplicas struct{}

func (noReplicas) TakeMetering() []runtime.Metered  { return nil }
func (noReplicas) ReturnMetering([]runtime.Metered) {}

// prices reads NEUAIS_BILLING_PRICES, or the file it names after @.
func prices(spec string) (billing.Prices, error) {
	if name, ok := strings.CutPrefix(spec, "@"); ok {
		data, err := os.ReadFile(name)
		if err != nil {
			return billing.Prices{}, fmt.Errorf("app: NEUAIS_BILLING_PRICES: %w", err)
		}
		spec = strings.Join(strings.Fields(string(data)), ",")
	}
	p, err := billing.ParsePrices(billing.DefaultPrices, spec)
	if err != nil {
		return p, fmt.Errorf("app: NEUAIS_BILLING_PRICES: %w", err)
	}
	return p, nil
}

// storedBytes is an organization's binaries and log messages in bytes.
func (a *App) storedBytes(ctx context.Context, orgID string) (int64, error) {
	bins, err := a.Binaries.StoredBytes(ctx, orgID)
	if err != nil {
		return 0, err
	}
	var logs sql.NullInt64
	if err := a.DB.NewSelect().Table("agent_logs").ColumnExpr("SUM(bytes)").Where("org_id = ?", orgID).Scan(ctx, &logs); err != nil {
		return 0, fmt.Errorf("app: stored log bytes: %w", err)
	}
	return bins + logs.Int64, nil
}

// startBilling starts the metering heartbeat and the month close (both end
// with Stopping) and registers billing's health.
func (a *App) startBilling() error {
	p, err := prices(a.Config.BillingPrices)
	if err != nil {
		return err
	}
	clock := billing.SystemClock{}
	a.Billing = billing.NewService(a.DB, p, clock)
	var src billing.Source = noReplicas{}
	if a.Runtime != nil {
		src = a.Runtime
	}
	a.Recorder = billing.NewRecorder(a.DB, src, a.storedBytes, clock, a.Logger)
	// Months missed while the server was down are invoiced before it serves.
	if err := a.Recorder.Sync(a.Stopping); err != nil {
		a.Logger.Warn("billing: heartbeat", "err", err)
	}
	if _, err := a.Billing.CloseMonths(a.Stopping); err != nil {
		a.Logger.Warn("billing: month close", "err", err)
	}
	a.background.Add(2)
	go func() {
		defer a.background.Done()
		a.Recorder.Run(a.Stopping, a.Config.BillingHeartbeat)
	}()
	go func() {
		defer a.background.Done()
		a.Billing.RunMonthClose(a.Stopping, monthCloseInterval, a.Logger)
	}()
	a.Health.Register(health.Component{Name: "billing", Check: a.checkBilling, Version: Version, Started: a.Started})
	return nil
}

// checkBilling is degraded while metering lags more than three heartbeats
// behind or the month close has not run; the detail gives both times.
func (a *App) checkBilling(context.Context) (health.Status, string) {
	last, closed := a.Recorder.LastSync(), a.Billing.LastClose()
	detail := "last month close " + stamp(closed) + "; last metering heartbeat " + stamp(last)
	switch {
	case last.IsZero() || time.Since(last) > 3*a.Config.BillingHeartbeat:
		return health.Degraded, "metering lags: " + detail
	case closed.IsZero():
		return health.Degraded, "month close has not run: " + detail
	}
	return health.Healthy, fmt.Sprintf("%s; metering lag %s", detail, time.Since(last).Round(time.Second))
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
