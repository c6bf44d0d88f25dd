package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/neuais/neuais/internal/agents"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/internal/leader"
	"github.com/neuais/neuais/internal/metrics"
	"github.com/neuais/neuais/internal/runtime"
)

// reconcileTopic carries agent ids from instances that do not lead to the
// leader's reconciler.
const reconcileTopic = "runtime.reconcile"

// busRetry is the pause before subscribing again to reconcileTopic.
const busRetry = time.Second

// startLeader records this instance, refusing to share the database with
// the local driver on another machine, takes the lease when it is free
// (so that a lone instance leads before it serves) and keeps trying or
// renewing it until Stopping. Every instance serves the whole API; only the
// leader runs the singleton work (lead). The webhook dispatcher runs on
// every instance: its claims (SKIP LOCKED) never hand a delivery to two.
func (a *App) startLeader(ctx context.Context) error {
	a.elector = leader.New(a.DB, leader.Config{
		Instance: a.Instance, Machine: leader.MachineID(), Driver: a.Config.RuntimeDriver,
		LocalDriver: config.RuntimeLocal, Lease: a.Config.LeaderLease,
	}, a.Logger)
	if err := a.elector.Register(ctx); err != nil {
		return err
	}
	var leadErr error
	if err := a.elector.Try(ctx, func() { leadErr = a.lead(ctx) }); err != nil {
		return err
	}
	if leadErr != nil {
		return leadErr
	}
	a.background.Add(1)
	go func() {
		defer a.background.Done()
		err := a.elector.Run(a.Stopping, func() {
			if err := a.lead(a.Stopping); err != nil {
				a.fail(fmt.Errorf("app: take over the singleton work: %w", err))
			}
		})
		if err != nil {
			a.fail(err)
		}
	}()
	return nil
}

// fail stops the runtime at once, since another instance may lead now, and
// makes Serve return err: the process exits and its supervisor starts it
// again as one more instance.
func (a *App) fail(err error) {
	a.Logger.Error("app: stopping the singleton work", "err", err)
	ctx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownGrace)
	if err := a.Runtime.Shutdown(ctx); err != nil {
		a.Logger.Error("app: stop the runtime", "err", err)
	}
	cancel()
	select {
	case a.failed <- err:
	default:
	}
}

// lead starts the singleton work: the runtime (which first kills what a
// dead leader's replicas left on this machine, then starts every agent
// desired running), the metrics sampler, billing's metering and month
// close, and the retention sweeps. All end with Stopping.
func (a *App) lead(ctx context.Context) error {
	if m, ok := a.Runtime.(*runtime.Manager); ok {
		// The runtime outlives the request that built the app: Close stops it.
		if err := m.Start(context.WithoutCancel(ctx)); err != nil {
			return err
		}
		a.background.Add(3)
		go a.forwardReconciles(m)
		go a.forwardMetered(m)
		sampler := metrics.NewSampler(a.Metrics, metrics.RunningFromDB(a.DB, m), a.Config.MetricsInterval)
		sampler.PurgeDeleted = true
		done := sampler.Start(a.Stopping)
		go func() {
			defer a.background.Done()
			<-done
		}()
		a.Health.Register(health.Component{Name: "metrics", Check: sampler.Health, Version: Version, Started: a.Started})
	}
	a.startMetering()
	a.background.Add(2)
	go a.sweepIdempotencyKeys()
	go func() {
		defer a.background.Done()
		a.Events.RunRetention(a.Stopping, a.Config.EventRetention, eventRetentionInterval)
	}()
	return nil
}

// reconciler tells the agents API's changes to the runtime: this
// instance's when it leads, else the leader's over the bus (the leader's
// periodic full pass catches a message lost with a leader).
func (a *App) reconciler() agents.Reconciler {
	m, ok := a.Runtime.(*runtime.Manager)
	if !ok {
		return a.Runtime
	}
	return leaderReconciler{a, m}
}

type leaderReconciler struct {
	a *App
	m *runtime.Manager
}

func (r leaderReconciler) Reconcile(agentID string) {
	if r.a.elector == nil || r.a.elector.Leading() {
		r.m.Reconcile(agentID)
		return
	}
	if err := r.a.Bus.Publish(context.Background(), events.Message{Topic: reconcileTopic, Time: time.Now(), Payload: agentID}); err != nil {
		r.a.Logger.Warn("app: tell the leader to reconcile", "agent", agentID, "err", err)
	}
}

// forwardReconciles passes the agent ids other instances publish on
// reconcileTopic to the runtime until Stopping.
func (a *App) forwardReconciles(m *runtime.Manager) {
	a.forward(reconcileTopic, func(msg events.Message) {
		if id := agentIDOf(msg); id != "" {
			m.Reconcile(id)
		}
	})
}

// forwardMetered counts the endpoint bytes other instances' proxies
// publish on meteredTopic in the runtime's metering until Stopping.
func (a *App) forwardMetered(m *runtime.Manager) {
	a.forward(meteredTopic, func(msg events.Message) {
		if p, ok := proxiedOf(msg); ok {
			m.AddMetered(p.AgentID, p.Bytes)
		}
	})
}

// forward hands every message on topic to handle until Stopping,
// subscribing again after the bus ends a subscription.
func (a *App) forward(topic string, handle func(events.Message)) {
	defer a.background.Done()
	for a.Stopping.Err() == nil {
		sub, err := a.Bus.Subscribe(a.Stopping, topic)
		if err == nil {
			for msg := range sub.C {
				handle(msg)
			}
			err = sub.Err()
		}
		if err != nil && a.Stopping.Err() == nil {
			a.Logger.Warn("app: messages from other instances", "topic", topic, "err", err)
		}
		select {
		case <-a.Stopping.Done():
		case <-time.After(busRetry):
		}
	}
}

// meteredTopic carries the bytes an instance that does not lead proxied
// to an agent's replicas, for the leader's metering.
const meteredTopic = "runtime.metered"

// proxiedBytes is a meteredTopic message.
type proxiedBytes struct {
	AgentID string `json:"agent_id"`
	Bytes   int64  `json:"bytes"`
}

// publishProxied tells the leader about bytes this instance proxied.
func (a *App) publishProxied(agentID string, n int64) {
	msg := events.Message{Topic: meteredTopic, Time: time.Now(), Payload: proxiedBytes{agentID, n}}
	if err := a.Bus.Publish(context.Background(), msg); err != nil {
		a.Logger.Warn("app: tell the leader the endpoint bytes", "agent", agentID, "bytes", n, "err", err)
	}
}

// proxiedOf reads a meteredTopic message: the value in process, JSON over
// NATS.
func proxiedOf(m events.Message) (proxiedBytes, bool) {
	switch p := m.Payload.(type) {
	case proxiedBytes:
		return p, true
	case json.RawMessage:
		var v proxiedBytes
		return v, json.Unmarshal(p, &v) == nil && v.AgentID != ""
	}
	return proxiedBytes{}, false
}

// agentIDOf reads a reconcileTopic message: a string in process, JSON
// over NATS.
func agentIDOf(m events.Message) string {
	switch p := m.Payload.(type) {
	case string:
		return p
	case json.RawMessage:
		var id string
		if json.Unmarshal(p, &id) == nil {
			return id
		}
	}
	return ""
}

// runtimeLeadership wraps the runtime's health check: an instance that
// does not lead runs no reconciler, which is as it should be.
func (a *App) runtimeLeadership(check health.Check) health.Check {
	return func(ctx context.Context) (health.Status, string) {
		if a.elector != nil && !a.elector.Leading() {
			return health.Healthy, fmt.Sprintf("instance %s runs the agents; this one serves their endpoints from the addresses it records", a.elector.Holder())
		}
		return check(ctx)
	}
}

// releaseLeadership hands the lease over once the singleton work stopped.
// Failing costs only time: the lease expires.
func (a *App) releaseLeadership() {
	if a.elector == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.Config.ShutdownGrace)
	defer cancel()
	if err := a.elector.Release(ctx); err != nil {
		a.Logger.Warn("app: release the lease; another instance leads once it expires", "err", err)
	}
}
