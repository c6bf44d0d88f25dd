// Package events is the platform's event bus: agent lifecycle events of an
// organization, log lines of an agent and metric samples of an agent flow
// through it to subscriptions, SSE streams, webhooks and billing.
package events

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// ErrSlowSubscriber ends a subscription whose buffer filled up: publishers
// never wait for subscribers, so one that falls behind is dropped.
var ErrSlowSubscriber = errors.New("subscriber fell behind and was dropped")

// ErrClosed is returned by a bus after Close.
var ErrClosed = errors.New("event bus closed")

// EventLogTopic announces, with no payload, that events of any
// organization were written: the wake-up of consumers of the whole log
// (webhook deliveries).
const EventLogTopic = "events.log"

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

// InvoiceCreated records a month close's invoice. It is not an agent event:
// only admins' event queries show it and no webhook receives it.
const InvoiceCreated = "invoice.created"

// AgentEventTypes are the six event types, in the contract's order.
var AgentEventTypes = []string{AgentCreated, AgentUpdated, AgentDeleted, AgentStarted, AgentStopped, AgentError}

// AgentEvent is the webhook contract's payload:
// {"event","timestamp","data":{"agent_id","name",...}}. ID is its id in
// the event log (0 before it is written), which the payload leaves out:
// webhooks send it as webhook-id, streams as the event id.
type AgentEvent struct {
	ID        int64          `json:"-"`
	Event     string         `json:"event"`
	Timestamp time.Time      `json:"timestamp"`
	Data      AgentEventData `json:"data"`
}

// EventID is the event's id as clients see it: the GraphQL id, the SSE
// event id and the webhook-id header.
func (e *AgentEvent) EventID() string { return strconv.FormatInt(e.ID, 10) }

// AgentEventData names the agent an event is about, with its status after
// the event and, for agent.updated, the fields that changed (names only:
// "environment", never its values).
type AgentEventData struct {
	AgentID string   `json:"agent_id"`
	Name    string   `json:"name"`
	OrgID   string   `json:"-"`
	Status  string   `json:"status,omitempty"`
	Reason  string   `json:"reason,omitempty"`
	Changed []string `json:"changed,omitempty"`
	// InvoiceID and Period are set on invoice.created only.
	InvoiceID string `json:"invoice_id,omitempty"`
	Period    string `json:"period,omitempty"`
}

// SubscribeOption tunes one subscription.
type SubscribeOption func(*subscribeOptions)

type subscribeOptions struct {
	buffer int
	wakeUp bool
}

// WithBuffer sets how many messages the subscriber may lag behind, for
// topics much quieter (or busier) than the bus's default.
func WithBuffer(n int) SubscribeOption {
	return func(o *subscribeOptions) { o.buffer = n }
}

// AsWakeUp makes a subscription a wake-up for a reader of the durable log:
// it holds one message, and messages that find it full are dropped
// instead of ending it, since the reader takes what it missed from the
// log. An idle subscriber then costs one message, not a buffer.
func AsWakeUp() SubscribeOption {
	return func(o *subscribeOptions) { o.buffer, o.wakeUp = 1, true }
}
