package events

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrAgentDeleted ends the streams of an agent that was deleted.
var ErrAgentDeleted = errors.New("agent deleted")

// Stream is a typed stream made from bus messages: C is closed when it
// ends; Err then says why.
type Stream[T any] struct {
	C <-chan T

	mu  sync.Mutex
	err error
}

// Err returns why the stream ended: nil when its context ended, else the
// producer's error (ErrAgentDeleted, ErrSlowSubscriber, ErrClosed, …).
func (s *Stream[T]) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Produce runs produce in its own goroutine, which owns the channel: send
// delivers one value and reports false once ctx has ended (produce should
// then return). C closes when produce returns; its error becomes Err.
func Produce[T any](ctx context.Context, produce func(send func(T) bool) error) *Stream[T] {
	ch := make(chan T)
	st := &Stream[T]{C: ch}
	send := func(v T) bool {
		select {
		case ch <- v:
			return true
		case <-ctx.Done():
			return false
		}
	}
	go func() {
		defer close(ch)
		err := produce(send)
		st.mu.Lock()
		st.err = err
		st.mu.Unlock()
	}()
	return st
}

// FollowAgent streams the values pick makes of the messages on topic, one
// of agentID's topics, after the values first returns; opts size the
// subscription to topic (the bus's default suits an agent's log,
// WithBuffer(SampleBuffer) its metrics: a follower holds its buffer for
// its whole life). first runs once the
// subscriptions are in place, so nothing falls between backlog and live.
// The stream ends when ctx ends, the agent is deleted (agent.deleted on
// its topic or its organization's events), or the bus drops or closes a
// subscription.
func FollowAgent[T any](ctx context.Context, bus Bus, orgID, agentID, topic string, first func() ([]T, error), pick func(Message) (T, bool), opts ...SubscribeOption) (*Stream[T], error) {
	sub, err := bus.Subscribe(ctx, topic, opts...)
	if err != nil {
		return nil, fmt.Errorf("events: follow: %w", err)
	}
	orgEvents, err := bus.Subscribe(ctx, AgentEventsTopic(orgID), WithBuffer(QuietBuffer))
	if err != nil {
		sub.Close()
		return nil, fmt.Errorf("events: follow: %w", err)
	}
	var backlog []T
	if first != nil {
		if backlog, err = first(); err != nil {
			sub.Close()
			orgEvents.Close()
			return nil, err
		}
	}
	return Produce(ctx, func(send func(T) bool) error {
		defer sub.Close()
		defer orgEvents.Close()
		for _, v := range backlog {
			if !send(v) {
				return nil
			}
		}
		for {
			select {
			case m, ok := <-sub.C:
				if !ok {
					return sub.Err()
				}
				if m.Type == AgentDeleted {
					return ErrAgentDeleted
				}
				if v, ok := pick(m); ok && !send(v) {
					return nil
				}
			case m, ok := <-orgEvents.C:
				if !ok {
					return orgEvents.Err()
				}
				if ev, isEvent := m.Payload.(AgentEvent); isEvent && m.Type == AgentDeleted && ev.Data.AgentID == agentID {
					return ErrAgentDeleted
				}
			}
		}
	}), nil
}
