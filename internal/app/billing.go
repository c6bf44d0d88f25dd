package app

import (
	"context"
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

// runtimeSource meters the app's runtime, which is made after the
// recorder (its meter) and before the recorder's loop starts.
type runtimeSource struct{ a *App }

func (s runtimeSource) TakeMetering() []runtime.Metered { return s.a.Runtime.TakeMetering() }

func (s runtimeSource) ReturnMetering(taken []runtime.Metered) { s.a.Runtime.ReturnMetering(taken) }

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

// startBilling builds the billing service and registers its health; the
// leader meters and closes months (startMetering).
func (a *App) startBilling() error {
	p, err := prices(a.Config.BillingPrices)
	if err != nil {
		return err
	}
	a.Billing = billing.NewService(a.DB, p, billing.SystemClock{})
	a.Health.Register(health.Component{Name: "billing", Check: a.checkBilling, Version: Version, Started: a.Started})
	return nil
}

// startMetering starts the metering heartbeat and the month close (both
// end with Stopping).
func (a *App) startMetering() {
	// The first heartbeat closes what a previous server left open, then
	// writes the transitions queued since the runtime started. Months
	// missed while the server was down are invoiced before it serves.
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
}

// checkBilling is healthy on an instance that does not lead (the leader
// meters); else degraded while metering lags more than three heartbeats
// behind or the month close has not run; the detail gives both times.
func (a *App) checkBilling(context.Context) (health.Status, string) {
	if a.elector != nil && !a.elector.Leading() {
		return health.Healthy, "instance " + a.elector.Holder() + " meters and closes months"
	}
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
