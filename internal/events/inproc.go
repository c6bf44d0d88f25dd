package events

import (
	"context"
	"sync"
)

// DefaultBuffer is the number of messages a subscriber may lag behind.
const DefaultBuffer = 4096

// InProcess is the default bus, for a single API instance.
type InProcess struct {
	buffer int

	mu     sync.RWMutex
	topics map[string]map[*Subscription]struct{}
	closed bool
}

// NewInProcess returns a bus whose subscribers may lag by buffer messages.
func NewInProcess(buffer int) *InProcess {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	return &InProcess{buffer: buffer, topics: map[string]map[*Subscription]struct{}{}}
}

// Subscription is one subscriber's stream. C is closed when it ends; Err then says why.
type Subscription struct {
	C <-chan Message

	ch    chan Message
	once  sync.Once
	mu    sync.Mutex
	err   error
	leave func()
}

// Err returns why the subscription ended: nil for Close or context end,
// ErrSlowSubscriber, or ErrClosed.
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

// Publish hands m to every current subscriber of m.Topic without blocking.
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
			slow = append(slow, s)
		}
	}
	b.mu.RUnlock()
	for _, s := range slow {
		s.end(ErrSlowSubscriber)
	}
	return nil
}

// Subscribe implements Bus.
func (b *InProcess) Subscribe(ctx context.Context, topic string) (*Subscription, error) {
	ch := make(chan Message, b.buffer)
	s := &Subscription{C: ch, ch: ch}
	s.leave = func() {
		b.mu.Lock()
		delete(b.topics[topic], s)
		if len(b.topics[topic]) == 0 {
			delete(b.topics, topic)
		}
		b.mu.Unlock()
		close(ch)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	if b.topics[topic] == nil {
		b.topics[topic] = map[*Subscription]struct{}{}
	}
	b.topics[topic][s] = struct{}{}
	b.mu.Unlock()
	stop := context.AfterFunc(ctx, func() { s.end(nil) })
	leave := s.leave
	s.leave = func() { stop(); leave() }
	return s, nil
}

// Close ends every subscription with ErrClosed.
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
