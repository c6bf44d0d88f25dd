package agents

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/models"
)

// DefaultWait is the timeout of Wait when none is given.
const DefaultWait = 30 * time.Second

var errShuttingDown = models.Errorf(models.CodeServiceUnavailable, "The server is shutting down; retry the wait")

// Wait returns the agent as soon as its status is status, watching the
// organization's events rather than polling. timeout is a duration ("30s",
// "2m", or plain seconds), empty for DefaultWait, at most Config.MaxWait.
// Errors: unauthorized, not_found (also when the agent is deleted while
// waiting), invalid_request on "status" or "timeout", timeout when the
// status is not reached in time (details: the current status),
// service_unavailable when the server shuts down meanwhile.
func (s *Service) Wait(ctx context.Context, id, status, timeout string) (*models.Agent, error) {
	who, err := models.RequireIdentity(ctx)
	if err != nil {
		return nil, err
	}
	want := models.AgentStatus(status)
	if !want.Valid() {
		return nil, invalidStatus()
	}
	d, err := s.parseWait(timeout)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	topic := events.AgentEventsTopic(who.OrgID)
	for {
		// Subscribe before reading, so no change falls between the two.
		sub, err := s.bus.Subscribe(ctx, topic)
		if err != nil {
			return nil, s.waitEnded(ctx, err, d, want, s.current(ctx, who.OrgID, id))
		}
		a, err := s.get(ctx, s.db, who.OrgID, id)
		if err != nil {
			sub.Close()
			return nil, s.waitEnded(ctx, err, d, want, s.current(ctx, who.OrgID, id))
		}
		a, err = s.watch(ctx, sub, who.OrgID, a, want)
		sub.Close()
		if err != nil || a.Status == want {
			return a, s.waitEnded(ctx, err, d, want, a)
		}
		// The subscription ended early (a slow subscriber): resubscribe.
	}
}

// watch re-reads a on each of its events until it has status want, ctx
// ends or the subscription ends.
func (s *Service) watch(ctx context.Context, sub *events.Subscription, orgID string, a *models.Agent, want models.AgentStatus) (*models.Agent, error) {
	for a.Status != want {
		select {
		case <-s.stopping:
			return a, errShuttingDown
		case <-ctx.Done():
			return a, ctx.Err()
		case m, ok := <-sub.C:
			if !ok {
				if err := sub.Err(); err != nil && !errors.Is(err, events.ErrSlowSubscriber) {
					return a, fmt.Errorf("agents: wait: %w", err)
				}
				return a, ctx.Err()
			}
			ev, isAgentEvent := m.Payload.(events.AgentEvent)
			if isAgentEvent && ev.Data.AgentID != a.ID {
				continue
			}
			next, err := s.get(ctx, s.db, orgID, a.ID)
			if err != nil {
				return a, err
			}
			a = next
			if isAgentEvent && models.AgentStatus(ev.Data.Status) == want {
				// A passing status (deploying) may be gone by the time the
				// agent is read again: the event says it was reached.
				a.Status, a.StatusReason = want, ev.Data.Reason
			}
		}
	}
	return a, nil
}

// current reads the agent once more after a wait's deadline passed before
// the agent was read, so that the timeout can still say its status; nil
// when it cannot be read.
func (s *Service) current(ctx context.Context, orgID, id string) *models.Agent {
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	a, err := s.get(ctx, s.db, orgID, id)
	if err != nil {
		return nil
	}
	return a
}

// waitEnded turns the end of a wait into its result: nil on success, a
// timeout error when the deadline passed, err otherwise.
func (s *Service) waitEnded(ctx context.Context, err error, d time.Duration, want models.AgentStatus, a *models.Agent) error {
	if err == nil || !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return err
	}
	e := models.Errorf(models.CodeTimeout, "The agent did not reach status %s within %s", want, d)
	if a != nil {
		e.Details = map[string]any{"status": string(a.Status)}
	}
	return e
}

func (s *Service) parseWait(timeout string) (time.Duration, error) {
	if timeout == "" {
		return min(DefaultWait, s.cfg.MaxWait), nil
	}
	d, err := time.ParseDuration(timeout)
	if err != nil {
		secs, aerr := strconv.Atoi(timeout)
		if aerr != nil {
			return 0, models.Invalid("timeout", `must be a duration such as "30s" or "2m"`)
		}
		d = time.Duration(secs) * time.Second
	}
	switch {
	case d <= 0:
		return 0, models.Invalid("timeout", "must be greater than 0")
	case d > s.cfg.MaxWait:
		return 0, models.Invalid("timeout", "must be at most "+s.cfg.MaxWait.String())
	}
	return d, nil
}
