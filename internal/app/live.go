package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/internal/logs"
	"github.com/neuais/neuais/internal/metrics"
	"github.com/neuais/neuais/internal/runtime"
)

// startLive starts the event bus (in-process, or NATS when NEUAIS_BUS_URL
// is nats://…) and the log store, builds the runtime (which writes into
// the log store; the leader starts it) and registers their health. With
// the runtime driver "none" no agent runs and nothing is sampled.
func (a *App) startLive(ctx context.Context) error {
	cfg := a.Config
	var busHealth health.Check
	switch {
	case cfg.BusURL == "":
		bus := events.NewInProcess(0)
		a.Bus, busHealth = bus, bus.Health
	case strings.HasPrefix(cfg.BusURL, "nats://"), strings.HasPrefix(cfg.BusURL, "tls://"):
		bus, err := events.NewNATS(cfg.BusURL, 0, a.Logger)
		if err != nil {
			return err
		}
		a.Bus, busHealth = bus, bus.Health
	default:
		return fmt.Errorf("app: NEUAIS_BUS_URL: want nats://host:port, tls://host:port or empty, got %s", events.RedactURL(cfg.BusURL))
	}
	var err error
	lc := cfg.Logs()
	lc.PurgeDeleted = true
	a.Logs, err = logs.Open(ctx, a.DB, a.Bus, lc, a.Logger)
	if err != nil {
		return err
	}
	a.Health.Register(health.Component{Name: "events", Check: busHealth, Version: Version, Started: a.Started})
	a.Health.Register(health.Component{Name: "logs", Check: a.Logs.Health, Version: Version, Started: a.Started})
	a.Metrics = metrics.NewStore(a.DB, a.Bus, a.Logger)
	if cfg.RuntimeDriver == config.RuntimeNone {
		return nil
	}
	rc := cfg.Runtime()
	rc.Secrets = a.Secrets
	rc.Meter = a.Recorder.Transition
	driver, err := runtime.NewLocalDriver(rc, a.Logs, a.Logger)
	if err != nil {
		return err
	}
	if a.Runtime, err = runtime.New(a.DB, a.Bus, a.Logs, driver, rc, a.Logger); err != nil {
		return err
	}
	// The leader starts it (lead); every instance proxies to its replicas.
	a.Health.Register(health.Component{Name: "runtime", Check: a.runtimeLeadership(a.Runtime.HealthCheck()), Version: Version, Started: a.Started})
	return nil
}
