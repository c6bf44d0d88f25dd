package logs

import (
	"context"

	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/models"
)

// Stream is a followed log: C yields the lines in ID order.
type Stream = events.Stream[*models.LogLine]

// Follow streams the log of agentID, of organization orgID: first the
// lines f selects (oldest first), then every new line that passes f's
// level as its batch is committed, each exactly once. A reader resuming after line n sets
// f.AfterID = n and f.Tail = All. The stream lives until ctx ends, the
// agent is deleted (agent.deleted on the organization's events, or
// DeleteAgent), the reader falls behind by more than the bus buffer, or the
// bus closes.
func (s *Store) Follow(ctx context.Context, orgID, agentID string, f Filter) (*Stream, error) {
	last := f.AfterID
	live := Filter{Level: f.Level}
	backlog := func() ([]*models.LogLine, error) {
		lines, err := s.Query(ctx, agentID, f)
		if err != nil {
			return nil, err
		}
		out := make([]*models.LogLine, len(lines))
		for i := range lines {
			out[i] = &lines[i]
		}
		if len(lines) > 0 {
			last = lines[len(lines)-1].ID
		}
		return out, nil
	}
	return events.FollowAgent(ctx, s.bus, orgID, agentID, events.AgentLogsTopic(agentID), backlog,
		func(m events.Message) (*models.LogLine, bool) {
			l, ok := m.Payload.(*models.LogLine)
			if !ok || m.Type != MessageType || l.ID <= last || !live.Match(l) {
				return nil, false
			}
			last = l.ID
			return l, true
		})
}
