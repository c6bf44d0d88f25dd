// Package events is the platform's event bus: agent lifecycle events of an
// organization, log lines of an agent and metric samples of an agent flow
// through it to subscriptions, SSE streams, webhooks and billing.
package events

import (
	"context"
	"errors"
	"time"
)

// ErrSlowSubscriber ends a subscription whose buffer filled up: publishers
// never wait for subscribers, so one that falls behind is dropped.
var ErrSlowSubscriber = errors.New("subscriber fell behind and was dropped")

// ErrClosed is returned by a bus after Close.
var ErrClosed = errors.New("event bus closed")

// Topic names.
func AgentEventsTopic(orgID string) string    { return "org." + orgID + ".agents" }
func AgentLogsTopic(agentID string) string    { return "agent." + agentID + ".logs" }
func AgentMetricsTopic(agentID string) string { return "agent." + agentID + ".metrics" }

// Message is one event on a topic. Payload is a JSON-encodable value
// (AgentEvent, a log line, a metric sample); an in-process bus hands the
// same value to every subscriber, so subscribers must not modify it.
type Message struct {
	Topic   string
	Type    string
	Time    time.Time
	Payload any
}

// Bus publishes messages to topics. Publish never blocks on subscribers.
type Bus interface {
	Publish(ctx context.Context, m Message) error
	// Subscribe delivers messages of topic published after it returns,
	// until ctx ends, Close is called, or the subscriber falls behind.
	Subscribe(ctx context.Context, topic string, opts ...SubscribeOption) (*Subscription, error)
	Close() error
}

// Agent event types of the webhook contract.
const (
	AgentCreated = "agent.created"
	AgentUpdated = "agent.updated"
	AgentDeleted = "agent.deleted"
	AgentStarted = "agent.started"
	AgentStopped = "agent.stopped"
	AgentError   = "agent.error"
)

// AgentEvent is the webhook contract's payload:
// {"event","timestamp","data":{"agent_id","name",...}}.
type AgentEvent struct {
	Event     string         `json:"event"`
	Timestamp time.Time      `json:"timestamp"`
	Data      AgentEventData `json:"data"`
}

// AgentEventData names the agent an event is about, with its status after the event.
type AgentEventData struct {
	AgentID string `json:"agent_id"`
	Name    string `json:"name"`
	OrgID   string `json:"-"`
	Status  string `json:"status,omitempty"`
	Reason  string `json:"reason,omitempty"`
}

// SubscribeOption tunes one subscription.
type SubscribeOption func(*subscribeOptions)

type subscribeOptions struct{ buffer int }

// WithBuffer sets how many messages the subscriber may lag behind, for
// topics much quieter (or busier) than the bus's default.
func WithBuffer(n int) SubscribeOption {
	return func(o *subscribeOptions) { o.buffer = n }
}
