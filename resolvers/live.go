package resolvers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/logs"
	"github.com/neuais/neuais/internal/streams"
	"github.com/neuais/neuais/models"
)

// DefaultUserCheckInterval is how often a live stream checks that its
// token still holds (its user exists, its password has not changed).
const DefaultUserCheckInterval = 30 * time.Second

// Final errors of live streams, as clients receive them.
var (
	errTokenExpired = models.Errorf(models.CodeUnauthorized, "Token expired")
	errShuttingDown = models.Errorf(models.CodeServiceUnavailable, "Server shutting down")
	errFellBehind   = models.Errorf(models.CodeServiceUnavailable, "Subscriber fell behind and was dropped; subscribe again")
	errAgentDeleted = models.Errorf(models.CodeNotFound, "Agent deleted")
	errEventType    = models.Invalid("type", "must be one of "+strings.Join(events.AgentEventTypes, ", "))
)

// logFilter reads the log arguments shared by the query and the
// subscription; after (a line id) resumes a stream after that line.
func logFilter(tail *int, since, level, after *string) (logs.Filter, error) {
	var f logs.Filter
	var err error
	if f.Level, err = logs.ParseLevel("level", deref(level)); err != nil {
		return f, err
	}
	if after != nil {
		if f.AfterID, err = logs.ParseEventID("after", *after); err != nil {
			return f, err
		}
		f.Tail = logs.All
		return f, nil
	}
	f.Tail = logs.DefaultTail
	if tail != nil {
		if f.Tail, err = logs.ParseTail("tail", *tail); err != nil {
			return f, err
		}
	}
	f.Since, err = logs.ParseSince("since", deref(since), time.Now())
	return f, err
}

// liveContext returns the context of a live stream: it ends when the token
// expires or is revoked, the user is deleted or the server begins to shut
// down. It also
// registers the stream's final error: that reason, or streamErr's (the
// stream's own end) mapped to a coded error.
func (r *Resolver) liveContext(ctx context.Context, who *models.Identity, streamErr func() error) context.Context {
	live, cancel := context.WithCancelCause(ctx)
	if !who.ExpiresAt.IsZero() {
		expiry := time.AfterFunc(time.Until(who.ExpiresAt), func() { cancel(errTokenExpired) })
		context.AfterFunc(live, func() { expiry.Stop() })
	}
	if r.Stopping != nil {
		stop := context.AfterFunc(r.Stopping, func() { cancel(errShuttingDown) })
		context.AfterFunc(live, func() { stop() })
	}
	r.watchUser(live, cancel)
	streams.OnEnd(ctx, func() error {
		if ctx.Err() != nil {
			return nil // the client left
		}
		if live.Err() != nil {
			return context.Cause(live)
		}
		return streamEndError(streamErr())
	})
	return live
}

// watchUser ends the stream when its token no longer holds: it expired,
// a password change revoked it or its user was deleted. A failed check
// (the database unreachable) is tried again at the next tick. The check
// runs on a timer, not in a goroutine: an idle stream holds no stack.
func (r *Resolver) watchUser(ctx context.Context, cancel context.CancelCauseFunc) {
	interval := r.UserCheckInterval
	if interval <= 0 {
		interval = DefaultUserCheckInterval
	}
	var (
		mu    sync.Mutex
		timer *time.Timer
	)
	check := func() {
		if ctx.Err() != nil {
			return
		}
		if checked, err := auth.Refresh(ctx, r.Identity); err == nil {
			if _, err := models.RequireIdentity(checked); err != nil && ctx.Err() == nil {
				cancel(err)
				return
			}
		}
		mu.Lock()
		timer.Reset(interval)
		mu.Unlock()
	}
	mu.Lock()
	timer = time.AfterFunc(interval, check)
	mu.Unlock()
	context.AfterFunc(ctx, func() {
		mu.Lock()
		timer.Stop()
		mu.Unlock()
	})
}

// streamEndError turns why a domain stream ended into the client's error.
func streamEndError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, events.ErrAgentDeleted):
		return errAgentDeleted
	case errors.Is(err, events.ErrSlowSubscriber):
		return errFellBehind
	case errors.Is(err, events.ErrClosed):
		return errShuttingDown
	}
	return fmt.Errorf("live stream: %w", err)
}

// servicesCheckInterval is how often servicesChanged runs the checks again.
const servicesCheckInterval = 5 * time.Second
