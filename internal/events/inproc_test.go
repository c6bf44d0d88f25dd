package events_test

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/health"
)

const waitFor = 5 * time.Second

func recv(t *testing.T, s *events.Subscription) (events.Message, bool) {
	t.Helper()
	select {
	case m, ok := <-s.C:
		return m, ok
	case <-time.After(waitFor):
		t.Fatal("no message within deadline")
		return events.Message{}, false
	}
}

func drainUntilClosed(t *testing.T, s *events.Subscription) int {
	t.Helper()
	n := 0
	deadline := time.After(waitFor)
	for {
		select {
		case _, ok := <-s.C:
			if !ok {
				return n
			}
			n++
		case <-deadline:
			t.Fatal("subscription not closed within deadline")
		}
	}
}

func TestInProcess_FanOut(t *testing.T) {
	bus := events.NewInProcess(16)
	defer bus.Close()
	ctx := context.Background()
	var subs []*events.Subscription
	for range 5 {
		s, err := bus.Subscribe(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, s)
	}
	other, err := bus.Subscribe(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := bus.Publish(ctx, events.Message{Topic: "a", Type: "n", Payload: i}); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range subs {
		for i := range 10 {
			m, ok := recv(t, s)
			if !ok || m.Payload != i {
				t.Fatalf("got %v %v, want payload %d in order", m.Payload, ok, i)
			}
		}
	}
	select {
	case m := <-other.C:
		t.Fatalf("topic b received %v", m)
	default:
	}
	if got := bus.Stats().Subscribers; got != 6 {
		t.Fatalf("subscribers = %d, want 6", got)
	}
}

func TestInProcess_SlowSubscriberDropped(t *testing.T) {
	bus := events.NewInProcess(4)
	defer bus.Close()
	ctx := context.Background()
	slow, _ := bus.Subscribe(ctx, "t")
	fast, _ := bus.Subscribe(ctx, "t")

	var got []any
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range fast.C {
			got = append(got, m.Payload)
			if len(got) == 100 {
				return
			}
		}
	}()
	for i := range 100 {
		// Publish must return at once even though slow never reads.
		start := time.Now()
		if err := bus.Publish(ctx, events.Message{Topic: "t", Payload: i}); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("publish blocked %v", d)
		}
		// Keep fast within its buffer: wait until it has taken message i.
		deadline := time.Now().Add(waitFor)
		for len(fast.C) > 2 {
			if time.Now().After(deadline) {
				t.Fatal("fast subscriber stalled")
			}
			runtime.Gosched()
		}
	}
	<-done
	for i, p := range got {
		if p != i {
			t.Fatalf("fast subscriber lost or reordered messages: got[%d]=%v", i, p)
		}
	}
	if n := drainUntilClosed(t, slow); n != 4 {
		t.Fatalf("slow subscriber got %d buffered messages before the end, want 4", n)
	}
	if !errors.Is(slow.Err(), events.ErrSlowSubscriber) {
		t.Fatalf("slow.Err() = %v, want ErrSlowSubscriber", slow.Err())
	}
	if fast.Err() != nil {
		t.Fatalf("fast.Err() = %v", fast.Err())
	}
	st := bus.Stats()
	if st.Dropped != 1 || st.Subscribers != 1 {
		t.Fatalf("stats = %+v, want 1 dropped and 1 subscriber left", st)
	}
}

func TestInProcess_ContextAndCloseEndSubscriptions(t *testing.T) {
	bus := events.NewInProcess(0)
	ctx, cancel := context.WithCancel(context.Background())
	byCtx, _ := bus.Subscribe(ctx, "t")
	byClose, _ := bus.Subscribe(context.Background(), "t")
	byBus, _ := bus.Subscribe(context.Background(), "t")

	cancel()
	drainUntilClosed(t, byCtx)
	if byCtx.Err() != nil {
		t.Fatalf("ctx end: Err = %v, want nil", byCtx.Err())
	}
	byClose.Close()
	byClose.Close()
	drainUntilClosed(t, byClose)

	if status, _ := bus.Health(context.Background()); status != health.Healthy {
		t.Fatalf("health = %s before Close", status)
	}
	if err := bus.Close(); err != nil {
		t.Fatal(err)
	}
	drainUntilClosed(t, byBus)
	if !errors.Is(byBus.Err(), events.ErrClosed) {
		t.Fatalf("bus close: Err = %v, want ErrClosed", byBus.Err())
	}
	if err := bus.Publish(context.Background(), events.Message{Topic: "t"}); !errors.Is(err, events.ErrClosed) {
		t.Fatalf("Publish after Close = %v", err)
	}
	if _, err := bus.Subscribe(context.Background(), "t"); !errors.Is(err, events.ErrClosed) {
		t.Fatalf("Subscribe after Close = %v", err)
	}
	if status, _ := bus.Health(context.Background()); status != health.Unhealthy {
		t.Fatalf("health = %s after Close", status)
	}
	if got := bus.Stats().Subscribers; got != 0 {
		t.Fatalf("subscribers = %d after everything ended", got)
	}
}

func TestInProcess_CanceledContext(t *testing.T) {
	bus := events.NewInProcess(0)
	defer bus.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, err := bus.Subscribe(ctx, "t")
	if err != nil {
		t.Fatal(err)
	}
	drainUntilClosed(t, s)
}

// Many publishers, subscribers joining and leaving, and a Close in the middle:
// run with -race; nothing may panic (send on closed channel) or deadlock.
func TestInProcess_ConcurrentChurn(t *testing.T) {
	bus := events.NewInProcess(8)
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := bus.Publish(ctx, events.Message{Topic: "t"}); errors.Is(err, events.ErrClosed) {
					return
				}
			}
		})
	}
	for i := range 8 {
		wg.Go(func() {
			for j := 0; ; j++ {
				sctx, cancel := context.WithCancel(ctx)
				s, err := bus.Subscribe(sctx, "t")
				if err != nil {
					cancel()
					return
				}
				for range (i + j) % 5 {
					if _, ok := <-s.C; !ok {
						break
					}
				}
				if j%2 == 0 {
					cancel()
				} else {
					s.Close()
				}
				for range s.C {
				}
				cancel()
			}
		})
	}
	deadline := time.Now().Add(waitFor)
	for bus.Stats().Dropped == 0 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	bus.Close()
	close(stop)
	wg.Wait()
	if got := bus.Stats().Subscribers; got != 0 {
		t.Fatalf("subscribers = %d after Close", got)
	}
}

func TestInProcess_WithBuffer(t *testing.T) {
	bus := events.NewInProcess(0)
	defer bus.Close()
	ctx := context.Background()
	small, _ := bus.Subscribe(ctx, "t", events.WithBuffer(2))
	for i := range 3 {
		if err := bus.Publish(ctx, events.Message{Topic: "t", Payload: i}); err != nil {
			t.Fatal(err)
		}
	}
	if n := drainUntilClosed(t, small); n != 2 || !errors.Is(small.Err(), events.ErrSlowSubscriber) {
		t.Fatalf("buffer 2: got %d messages, Err %v; want 2 and ErrSlowSubscriber", n, small.Err())
	}
}
