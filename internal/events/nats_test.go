package events_test

import (
	"context"
	"errors"
	"net"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/models"
)

// natsURL returns the test NATS server (NEUAIS_TEST_NATS_URL, default the
// local one), skipping outside CI when none answers.
func natsURL(t *testing.T) string {
	url := os.Getenv("NEUAIS_TEST_NATS_URL")
	addr := "127.0.0.1:4222"
	if url == "" {
		url = "nats://" + addr
	} else {
		addr = url[len("nats://"):]
	}
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs a NATS server at %s: %v", url, err)
		}
		t.Skipf("no NATS server at %s", url)
	}
	conn.Close()
	return url
}

func mustNATS(t *testing.T, buffer int) *events.NATS {
	t.Helper()
	b, err := events.NewNATS(natsURL(t), buffer, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// TestNATS_AcrossInstances: what one instance publishes, another's
// subscribers receive in order, with payloads of their Go types.
func TestNATS_AcrossInstances(t *testing.T) {
	ctx := context.Background()
	pub, sub := mustNATS(t, 0), mustNATS(t, 0)
	agentID := models.NewID(models.PrefixAgent)
	logs, err := sub.Subscribe(ctx, events.AgentLogsTopic(agentID))
	if err != nil {
		t.Fatal(err)
	}
	agentEvents, err := sub.Subscribe(ctx, events.AgentEventsTopic("org_x"+agentID))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		line := &models.LogLine{ID: int64(i + 1), AgentID: agentID, OrgID: "org_x", Level: models.LevelInfo, Message: "hello", Timestamp: models.Now()}
		if err := pub.Publish(ctx, events.Message{Topic: events.AgentLogsTopic(agentID), Type: events.TypeLogLine, Time: line.Timestamp, Payload: line}); err != nil {
			t.Fatal(err)
		}
	}
	ev := events.AgentEvent{Event: events.AgentDeleted, Timestamp: models.Now(), ID: 7, Data: events.AgentEventData{AgentID: agentID, OrgID: "org_x", Name: "a", Changed: []string{"status"}}}
	if err := pub.Publish(ctx, events.Message{Topic: events.AgentEventsTopic("org_x" + agentID), Type: events.AgentDeleted, Payload: ev}); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		m, ok := recv(t, logs)
		line, isLine := m.Payload.(*models.LogLine)
		if !ok || !isLine || line.ID != int64(i+1) || line.AgentID != agentID {
			t.Fatalf("message %d = %+v", i, m)
		}
	}
	m, _ := recv(t, agentEvents)
	got, ok := m.Payload.(events.AgentEvent)
	if !ok || got.ID != ev.ID || !reflect.DeepEqual(got.Data, ev.Data) || !got.Timestamp.Equal(ev.Timestamp) {
		t.Fatalf("agent event = %#v, want %#v", m.Payload, ev)
	}
	if status, _ := pub.Health(ctx); status != health.Healthy {
		t.Fatalf("health %s", status)
	}
}

func TestNATS_SlowSubscriberAndClose(t *testing.T) {
	ctx := context.Background()
	b := mustNATS(t, 4)
	topic := "test." + models.NewID("")
	slow, err := b.Subscribe(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if err := b.Publish(ctx, events.Message{Topic: topic, Type: "n"}); err != nil {
			t.Fatal(err)
		}
	}
	drainUntilClosed(t, slow)
	if !errors.Is(slow.Err(), events.ErrSlowSubscriber) {
		t.Fatalf("slow.Err() = %v", slow.Err())
	}

	cctx, cancel := context.WithCancel(ctx)
	byCtx, _ := b.Subscribe(cctx, topic)
	cancel()
	drainUntilClosed(t, byCtx)

	open, _ := b.Subscribe(ctx, topic)
	b.Close()
	drainUntilClosed(t, open)
	if !errors.Is(open.Err(), events.ErrClosed) {
		t.Fatalf("after Close: Err = %v", open.Err())
	}
	if err := b.Publish(ctx, events.Message{Topic: topic}); !errors.Is(err, events.ErrClosed) {
		t.Fatalf("Publish after Close = %v", err)
	}
}
