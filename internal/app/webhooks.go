package app

import (
	"time"

	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/internal/webhooks"
)

// eventRetentionInterval is how often events past NEUAIS_EVENT_RETENTION go.
const eventRetentionInterval = time.Hour

// startWebhooks opens the event log, starts the webhook dispatcher (it ends
// with Stopping; the leader sweeps the log, see lead) and registers its health.
func (a *App) startWebhooks() {
	cfg := a.Config
	a.Events = events.NewLog(a.DB, a.Bus, a.Logger)
	a.Webhooks = webhooks.New(a.DB, webhooks.Config{
		Secrets: a.Secrets, AllowPrivate: cfg.AllowPrivateWebhookURLs, Timeout: cfg.WebhookTimeout,
		Schedule: cfg.WebhookRetrySchedule, Workers: cfg.WebhookWorkers, DisableAfter: cfg.WebhookDisableAfter,
	})
	a.Dispatcher = webhooks.NewDispatcher(a.Webhooks, a.Bus, a.Logger)
	a.background.Add(1)
	go func() {
		defer a.background.Done()
		a.Dispatcher.Run(a.Stopping)
	}()
	a.Health.Register(health.Component{Name: "webhooks", Check: a.Dispatcher.HealthCheck, Version: Version, Started: a.Started})
}
