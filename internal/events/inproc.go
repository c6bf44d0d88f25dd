package events

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/neuais/neuais/internal/health"
)

// DefaultBuffer is the number of messages a subscriber may lag behind.
// A Message is 72 bytes, so a subscriber costs at most about 300 KiB.
const DefaultBuffer = 4096

// QuietBuffer suits subscriptions to a quiet topic, such as an
// organization's agent events (a log follower watches them for its agent's
// deletion; agentEvents streams them).
const QuietBuffer = 256

// SampleBuffer suits a topic with one message per sampling interval (at
// least a second), an agent's metric samples: 16 s of lag, about 1 KiB.
const SampleBuffer = 16

// InProcess is the default bus, for a single API instance. Each subscriber
// has its own bounded channel; Publish never waits on one.
type InProcess struct {
	buffer int

	mu     sync.RWMutex
	topics map[string]map[*Subscription]struct{}
	closed bool

	subscribers atomic.Int64
	dropped     atomic.Int64
}

// NewInProcess returns a bus whose subscribers may lag by buffer messages
// (DefaultBuffer when buffer ≤ 0).
func NewInProcess(buffer int) *InProcess {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	return &InProcess{buffer: buffer, topics: map[string]map[*Subscription]struct{}{}}
}

// Subscription is one subscriber's stream. C is closed when it ends; Err
// then says why. Messages already buffered are still delivered before C closes.
type Subscription struct {
	C <-chan Message

	ch     chan Message
	wakeUp bool // a full ch drops the message (AsWakeUp)
	once   sync.Once
	mu     sync.Mutex
	err    error
	leave  func()
}

// Err returns why the subscription ended: nil while it runs or after Close
// or context end, ErrSlowSubscriber, or ErrClosed.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription; it is safe to call more than once.
func (s *Subscription) Close() { s.end(nil) }

func (s *Subscription) end(err error) {
	s.once.Do(func() {
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		s.leave()
	})
}

// Publish hands m to every current subscriber of m.Topic without blocking;
// a subscriber whose buffer is full is ended with ErrSlowSubscriber.
// Messages of one publisher reach each subscriber in publish order.
func (b *InProcess) Publish(_ context.Context, m Message) error {
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return ErrClosed
	}
	var slow []*Subscription
	for s := range b.topics[m.Topic] {
		select {
		case s.ch <- m:
		default:
			if !s.wakeUp {
				slow = append(slow, s)
			}
		}
	}
	b.mu.RUnlock()
	for _, s := range slow {
		b.dropped.Add(1)
		s.end(ErrSlowSubscriber)
	}
	return nil
}

// Subscribe implements Bus. Errors: ErrClosed.
func (b *InProcess) Subscribe(ctx context.Context, topic string, opts ...SubscribeOption) (*Subscription, error) {
	o := subscribeOptions{buffer: b.buffer}
	for _, opt := range opts {
		opt(&o)
	}
	ch := make(chan Message, max(o.buffer, 1))
	s := &Subscription{C: ch, ch: ch, wakeUp: o.wakeUp}
	// stop is set before the subscription becomes visible to publishers or
	// to the context callback, so leave never reads it while it is written.
	var stop func() bool
	s.leave = func() {
		if stop != nil {
			stop()
		}
		b.mu.Lock()
		delete(b.topics[topic], s)
		if len(b.topics[topic]) == 0 {
			delete(b.topics, topic)
		}
		b.mu.Unlock()
		b.subscribers.Add(-1)
		close(ch) // publishers hold the read lock while sending, so none is mid-send here
	}
	if ctx.Done() != nil {
		ready := make(chan struct{})
		stop = context.AfterFunc(ctx, func() { <-ready; s.end(nil) })
		defer close(ready)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		if stop != nil {
			stop()
		}
		s.once.Do(func() {}) // a context callback already running must not leave
		return nil, ErrClosed
	}
	if b.topics[topic] == nil {
		b.topics[topic] = map[*Subscription]struct{}{}
	}
	b.topics[topic][s] = struct{}{}
	b.subscribers.Add(1)
	b.mu.Unlock()
	return s, nil
}

// Close ends every subscription with ErrClosed; later calls to Publish and
// Subscribe fail with ErrClosed.
func (b *InProcess) Close() error {
	b.mu.Lock()
	b.closed = true
	var all []*Subscription
	for _, subs := range b.topics {
		for s := range subs {
			all = append(all, s)
		}
	}
	b.mu.Unlock()
	for _, s := range all {
		s.end(ErrClosed)
	}
	return nil
}

// Stats is a snapshot of the bus for health checks.
type Stats struct {
	Closed      bool
	Subscribers int64
	Dropped     int64 // subscribers ended for falling behind, since start
	// Lag is the messages published and not yet taken, over all
	// subscribers; MaxLag the most one subscriber has waiting.
	Lag, MaxLag int
}

// Stats returns the bus's current figures.
func (b *InProcess) Stats() Stats {
	b.mu.RLock()
	st := Stats{Closed: b.closed}
	for _, subs := range b.topics {
		for s := range subs {
			st.addLag(len(s.ch))
		}
	}
	b.mu.RUnlock()
	st.Subscribers, st.Dropped = b.subscribers.Load(), b.dropped.Load()
	return st
}

func (st *Stats) addLag(n int) {
	st.Lag += n
	st.MaxLag = max(st.MaxLag, n)
}

// Health is the bus's health.Check: unhealthy once closed. Dropping a slow
// subscriber is the bus working as designed, so it does not degrade it.
func (b *InProcess) Health(context.Context) (health.Status, string) {
	if b.Stats().Closed {
		return health.Unhealthy, "event bus closed"
	}
	return health.Healthy, ""
}
