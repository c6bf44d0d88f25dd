package logs

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/models"
)

// ErrAgentDeleted ends the streams of an agent that was deleted.
var ErrAgentDeleted = errors.New("agent deleted")

// Stream is a followed log: C yields the lines in ID order and is closed
// when the stream ends; Err then says why.
type Stream struct {
	C <-chan *models.LogLine

	mu  sync.Mutex
	err error
}

// Err returns why the stream ended: nil when its context ended,
// ErrAgentDeleted, events.ErrSlowSubscriber when the reader fell behind, or
// events.ErrClosed on shutdown.
func (st *Stream) Err() error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.err
}

// Follow streams the log of agentID, of organization orgID: first the
// lines f selects (oldest first), then every new line that passes f's
// level, each exactly once. A reader resuming after line n sets
// f.AfterID = n and f.Tail = All. The stream lives until ctx ends, the
// agent is deleted (agent.deleted on the organization's events, or
// DeleteAgent), the reader falls behind by more than the bus buffer, or the
// bus closes.
func (s *Store) Follow(ctx context.Context, orgID, agentID string, f Filter) (*Stream, error) {
	// Subscribe before reading the backlog so no line falls between the two.
	sub, err := s.bus.Subscribe(ctx, events.AgentLogsTopic(agentID))
	if err != nil {
		return nil, fmt.Errorf("logs: follow: %w", err)
	}
	agentEvents, err := s.bus.Subscribe(ctx, events.AgentEventsTopic(orgID), events.WithBuffer(events.QuietBuffer))
	if err != nil {
		sub.Close()
		return nil, fmt.Errorf("logs: follow: %w", err)
	}
	backlog, err := s.Query(ctx, agentID, f)
	if err != nil {
		sub.Close()
		agentEvents.Close()
		return nil, err
	}
	ch := make(chan *models.LogLine)
	st := &Stream{C: ch}
	go func() {
		defer close(ch)
		defer sub.Close()
		defer agentEvents.Close()
		send := func(l *models.LogLine) bool {
			select {
			case ch <- l:
				return true
			case <-ctx.Done():
				return false
			}
		}
		last := f.AfterID
		for i := range backlog {
			if !send(&backlog[i]) {
				return
			}
			last = backlog[i].ID
		}
		live := Filter{Level: f.Level}
		for {
			select {
			case m, ok := <-sub.C:
				if !ok {
					st.end(sub.Err())
					return
				}
				switch m.Type {
				case MessageType:
					l, ok := m.Payload.(*models.LogLine)
					if !ok || l.ID <= last || !live.Match(l) {
						continue
					}
					if !send(l) {
						return
					}
					last = l.ID
				case events.AgentDeleted:
					st.end(ErrAgentDeleted)
					return
				}
			case m, ok := <-agentEvents.C:
				if !ok {
					st.end(agentEvents.Err())
					return
				}
				if deleted(m, agentID) {
					st.end(ErrAgentDeleted)
					return
				}
			}
		}
	}()
	return st, nil
}

func (st *Stream) end(err error) {
	st.mu.Lock()
	st.err = err
	st.mu.Unlock()
}

// deleted reports whether m is the agent.deleted event of agentID.
func deleted(m events.Message, agentID string) bool {
	ev, ok := m.Payload.(events.AgentEvent)
	return ok && m.Type == events.AgentDeleted && ev.Data.AgentID == agentID
}
