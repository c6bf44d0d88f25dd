package app

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/internal/logs"
	"github.com/neuais/neuais/internal/metrics"
	"github.com/neuais/neuais/internal/runtime"
	"github.com/neuais/neuais/internal/runtime/kube"
)

// startLive starts the event bus (given, in-process, or NATS when
// NEUAIS_BUS_URL is nats://…) and the log store, builds the runtime (which
// writes into the log store; the leader starts it and the metrics
// sampler) and registers their health. With the runtime driver "none" no agent
// runs and nothing is sampled.
func (a *App) startLive(ctx context.Context, bus events.Bus) error {
	cfg := a.Config
	var err error
	if bus == nil {
		if bus, err = a.openBus(); err != nil {
			return err
		}
	}
	a.Bus = bus
	if b, ok := bus.(interface {
		Health(context.Context) (health.Status, string)
	}); ok {
		a.Health.Register(health.Component{Name: "events", Check: b.Health, Version: Version, Started: a.Started})
	}
	// Released once the runtime, whose closer comes later, has stopped.
	a.closing(func() error { a.releaseLeadership(); return nil })
	lc := cfg.Logs()
	lc.PurgeDeleted = true
	if a.Logs, err = logs.Open(ctx, a.DB, a.Bus, lc, a.Logger); err != nil {
		return err
	}
	a.closing(a.Logs.Close)
	a.Health.Register(health.Component{Name: "logs", Check: a.Logs.Health, Version: Version, Started: a.Started})
	a.Metrics = metrics.NewStore(a.DB, a.Bus, a.Logger)
	if cfg.RuntimeDriver == config.RuntimeNone {
		a.Runtime = runtime.Off{}
		return nil
	}
	return a.startRuntime(ctx)
}

// openBus opens the bus NEUAIS_BUS_URL names, which Close closes.
func (a *App) openBus() (events.Bus, error) {
	cfg := a.Config
	var bus events.Bus
	switch {
	case cfg.BusURL == "":
		bus = events.NewInProcess(0)
	case strings.HasPrefix(cfg.BusURL, "nats://"), strings.HasPrefix(cfg.BusURL, "tls://"):
		b, err := events.NewNATS(cfg.BusURL, 0, a.Logger)
		if err != nil {
			return nil, err
		}
		bus = b
	default:
		return nil, fmt.Errorf("app: NEUAIS_BUS_URL: want nats://host:port, tls://host:port or empty, got %s", events.RedactURL(cfg.BusURL))
	}
	a.closing(bus.Close)
	return bus, nil
}

// startRuntime builds the runtime on its driver; the leader starts it and the
// sampler of its usage (lead).
func (a *App) startRuntime(ctx context.Context) error {
	cfg := a.Config
	rc := cfg.Runtime()
	rc.Secrets = a.Secrets
	rc.Meter = a.Recorder.Transition
	var driver runtime.Driver
	var err error
	if cfg.RuntimeDriver == config.RuntimeKubernetes {
		driver, err = kube.New(a.kubeConfig(rc), a.Logs, a.Logger)
	} else {
		driver, err = runtime.NewLocalDriver(rc, a.Logs, a.Logger)
	}
	if err != nil {
		return err
	}
	m, err := runtime.New(a.DB, a.Bus, a.Logs, driver, rc, a.Logger)
	if err != nil {
		return err
	}
	// The leader starts it (lead); every instance proxies to its replicas
	// and tells the leader what it carried to them.
	m.OnRemoteBytes(a.publishProxied)
	a.Runtime = m
	a.closing(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownGrace)
		defer cancel()
		err := m.Shutdown(ctx)
		// The replicas' ends come after the recorder's loop has stopped.
		ctx, cancel = context.WithTimeout(context.Background(), cfg.ShutdownGrace)
		defer cancel()
		return errors.Join(err, a.Recorder.Flush(ctx))
	})
	if err := a.Registry.Register(m.Collector()); err != nil {
		return err
	}
	a.Health.Register(health.Component{Name: "runtime", Check: a.runtimeLeadership(m.HealthCheck()), Version: Version, Started: a.Started})
	return nil
}
