package neuais

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"time"
)

// Event is one entry of the organization's durable event log: the payload
// a webhook receives, with its id (the deliveries' webhook-id), which only
// grows.
type Event struct {
	ID        string    `json:"id"`
	Event     string    `json:"event"` // agent.created, agent.updated, agent.deleted, agent.started, agent.stopped, agent.error
	Timestamp time.Time `json:"timestamp"`
	Data      EventData `json:"data"`
}

// EventData is the agent an event is about.
type EventData struct {
	AgentID string   `json:"agent_id"`
	Name    string   `json:"name"`
	Status  string   `json:"status,omitempty"`  // the agent's status after the event
	Reason  string   `json:"reason,omitempty"`  // of agent.error
	Changed []string `json:"changed,omitempty"` // of agent.updated: the fields' names
}

// ListEventsOptions filter, page and order the event log (newest first
// unless Sort is "id:asc"); the route takes no Fields (invalid_request).
type ListEventsOptions struct {
	ListOptions
	Type    string // an event type
	AgentID string
}

func (o *ListEventsOptions) values() url.Values {
	if o == nil {
		return url.Values{}
	}
	q := o.ListOptions.values()
	for k, v := range map[string]string{"type": o.Type, "agent_id": o.AgentID} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// FollowEventsOptions filter a followed event log.
type FollowEventsOptions struct {
	Type    string
	AgentID string
	// After resumes after this event id instead of starting with the
	// events written from now on.
	After string
}

// EventList is one page of events.
type EventList struct {
	Events []Event `json:"events"`
	Page
}

// EventsService calls the /events routes.
type EventsService struct{ c *Client }

// Events returns the event log API.
func (c *Client) Events() *EventsService { return &EventsService{c} }

// List returns a page of the organization's events, newest first.
func (s *EventsService) List(opts ...*ListEventsOptions) (*EventList, error) {
	return s.ListContext(s.c.ctx, first(opts))
}

// ListContext is List with a context; opts may be nil.
// Errors: invalid_request (type, limit, offset, sort).
func (s *EventsService) ListContext(ctx context.Context, opts *ListEventsOptions) (*EventList, error) {
	var list EventList
	if err := s.c.do(ctx, http.MethodGet, "/events", opts.values(), nil, &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// All yields every event that matches opts, over all pages.
func (s *EventsService) All(opts ...*ListEventsOptions) iter.Seq2[Event, error] {
	return s.AllContext(s.c.ctx, first(opts))
}

// AllContext is All with a context; opts may be nil.
func (s *EventsService) AllContext(ctx context.Context, opts *ListEventsOptions) iter.Seq2[Event, error] {
	o := ListEventsOptions{}
	if opts != nil {
		o = *opts
	}
	return pages(&o.ListOptions, func() ([]Event, Page, error) {
		list, err := s.ListContext(ctx, &o)
		if err != nil {
			return nil, Page{}, err
		}
		return list.Events, list.Page, nil
	})
}

// Follow yields the events written from now on (or after opts.After) as
// they are written; see FollowContext.
func (s *EventsService) Follow(opts ...*FollowEventsOptions) iter.Seq2[Event, error] {
	return s.FollowContext(s.c.ctx, first(opts))
}

// FollowContext follows the event log over Server-Sent Events until the
// loop stops, ctx ends (its error is yielded) or the stream ends for good
// (unauthorized, invalid_request: yielded as the last error). It
// reconnects as FollowLogsContext does, with Last-Event-ID, so no event is
// lost or seen twice, also across a restart of the server.
func (s *EventsService) FollowContext(ctx context.Context, opts *FollowEventsOptions) iter.Seq2[Event, error] {
	o := FollowEventsOptions{}
	if opts != nil {
		o = *opts
	}
	q := url.Values{}
	for k, v := range map[string]string{"type": o.Type, "agent_id": o.AgentID} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return follow(ctx, s.c, "/events", func(bool) url.Values { return withFollow(q) }, o.After,
		func(id string, data []byte) (Event, error) {
			var ev Event
			if err := json.Unmarshal(data, &ev); err != nil {
				return Event{}, fmt.Errorf("neuais: decode event: %w", err)
			}
			ev.ID = id
			return ev, nil
		})
}
