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
)

// startLive starts the event bus (given, in-process, or NATS when
// NEUAIS_BUS_URL is nats://…), the log store, the runtime (which writes
// into the log store) and the metrics sampler (which reads the runtime),
// and registers their health. With the runtime driver "none" no agent
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

// startRuntime starts the local runtime and the sampler of its usage.
func (a *App) startRuntime(ctx context.Context) error {
	cfg := a.Config
	rc := cfg.Runtime()
	rc.Secrets = a.Secrets
	rc.Meter = a.Recorder.Transition
	driver, err := runtime.NewLocalDriver(rc, a.Logs, a.Logger)
	if err != nil {
		return err
	}
	m, err := runtime.New(a.DB, a.Bus, a.Logs, driver, rc, a.Logger)
	if err != nil {
		return err
	}
	// The runtime outlives the request that built the app: Close stops it.
	if err := m.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
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
	sampler := metrics.NewSampler(a.Metrics, metrics.RunningFromDB(a.DB, m), cfg.MetricsInterval)
	sampler.PurgeDeleted = true
	samplerCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := sampler.Start(samplerCtx)
	a.closing(func() error {
		stop()
		<-done
		return nil
	})
	for _, c := range []health.Component{
		{Name: "metrics", Check: sampler.Health},
		{Name: "runtime", Check: m.HealthCheck()},
	} {
		c.Version, c.Started = Version, a.Started
		a.Health.Register(c)
	}
	return nil
}
