package events_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/models"
)

// TestAsWakeUp: a wake-up subscription that is not read keeps one message
// and stays open through a burst that ends a subscription of the same
// size, on both buses.
func TestAsWakeUp(t *testing.T) {
	for name, bus := range map[string]func(t *testing.T) events.Bus{
		"inproc": func(*testing.T) events.Bus { return events.NewInProcess(0) },
		"nats":   func(t *testing.T) events.Bus { return mustNATS(t, 0) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			b := bus(t)
			topic := "test." + models.NewID("")
			wake, err := b.Subscribe(ctx, topic, events.AsWakeUp())
			if err != nil {
				t.Fatal(err)
			}
			small, err := b.Subscribe(ctx, topic, events.WithBuffer(1))
			if err != nil {
				t.Fatal(err)
			}
			for range 50 {
				if err := b.Publish(ctx, events.Message{Topic: topic, Type: "n"}); err != nil {
					t.Fatal(err)
				}
			}
			drainUntilClosed(t, small)
			if !errors.Is(small.Err(), events.ErrSlowSubscriber) {
				t.Fatalf("a one-message buffer that overflows: Err = %v", small.Err())
			}
			select {
			case m, ok := <-wake.C:
				if !ok {
					t.Fatalf("the wake-up ended: %v", wake.Err())
				}
				if m.Type != "n" {
					t.Fatalf("wake-up %+v", m)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no wake-up")
			}
			if err := b.Publish(ctx, events.Message{Topic: topic, Type: "again"}); err != nil {
				t.Fatal(err)
			}
			select {
			case m := <-wake.C:
				if m.Type != "again" && m.Type != "n" {
					t.Fatalf("wake-up %+v", m)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no wake-up after the burst")
			}
			if wake.Err() != nil {
				t.Fatalf("wake-up Err = %v", wake.Err())
			}
			b.Close()
		})
	}
}
