package events_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/models"
)

type statsBus interface {
	events.Bus
	events.StatsSource
}

// TestBusMetrics: both buses report the messages their subscribers have
// yet to take and the subscribers dropped for falling behind.
func TestBusMetrics(t *testing.T) {
	for name, open := range map[string]func(*testing.T) statsBus{
		"InProcess": func(*testing.T) statsBus { return events.NewInProcess(0) },
		"NATS":      func(t *testing.T) statsBus { return mustNATS(t, 0) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			bus := open(t)
			topic := models.NewID("stats.") // the NATS server is shared
			lagging, err := bus.Subscribe(ctx, topic+".lag", events.WithBuffer(10))
			if err != nil {
				t.Fatal(err)
			}
			defer lagging.Close()
			dropped, err := bus.Subscribe(ctx, topic+".drop", events.WithBuffer(1))
			if err != nil {
				t.Fatal(err)
			}
			for _, tp := range []string{".lag", ".lag", ".lag", ".drop", ".drop"} {
				if err := bus.Publish(ctx, events.Message{Topic: topic + tp, Type: "test", Time: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			// NATS hands messages over on its own goroutines; reading the
			// full subscriber before its drop would make room for the second.
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if st := bus.Stats(); st.Lag >= 3 && st.Dropped >= 1 {
					break
				}
			}
			if !errors.Is(dropped.Err(), events.ErrSlowSubscriber) {
				t.Fatalf("not dropped: %v", dropped.Err())
			}
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(events.Collector(bus))
			families, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]float64{}
			for _, f := range families {
				m := f.GetMetric()[0]
				got[f.GetName()] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
			want := map[string]float64{
				"neuais_bus_subscribers": 1, "neuais_bus_lag_messages": 3, "neuais_bus_max_lag_messages": 3,
				"neuais_bus_dropped_subscribers_total": 1,
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}
