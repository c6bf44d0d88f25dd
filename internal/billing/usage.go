package billing

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/models"
)

// Service answers usage questions of the caller's organization.
type Service struct {
	db     *bun.DB
	prices Prices
	clock  Clock

	lastClose atomic.Int64 // unix nanoseconds on the clock of the last month close
}

// NewService returns a service pricing by prices on clock's time.
func NewService(db *bun.DB, prices Prices, clock Clock) *Service {
	return &Service{db: db, prices: prices, clock: clock}
}

// ParsePeriod resolves current, last_month or YYYY-MM (empty is current)
// against now to the month's first instant in UTC. Errors: invalid_request
// on "period" (also for a month after now's).
func ParsePeriod(s string, now time.Time) (time.Time, error) {
	now = now.UTC()
	cur := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	switch s {
	case "", "current":
		return cur, nil
	case "last_month":
		return cur.AddDate(0, -1, 0), nil
	}
	t, err := time.Parse("2006-01", s)
	if err != nil || len(s) != 7 {
		return time.Time{}, models.Invalid("period", "must be current, last_month or a month as YYYY-MM")
	}
	if t.After(cur) {
		return time.Time{}, models.Invalid("period", "must not be a month still to come")
	}
	return t, nil
}

// Usage returns the caller's organization's usage in period, priced, with
// one entry per agent that ran or carried traffic. Errors: unauthorized,
// forbidden (not an admin), invalid_request on "period".
func (s *Service) Usage(ctx context.Context, period string) (*models.Usage, error) {
	who, err := models.RequireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	start, err := ParsePeriod(period, s.clock.Now())
	if err != nil {
		return nil, err
	}
	return s.OrgUsage(ctx, who.OrgID, start)
}

// OrgUsage measures and prices organization orgID's month from start,
// up to now for the current month.
func (s *Service) OrgUsage(ctx context.Context, orgID string, start time.Time) (*models.Usage, error) {
	m, agents, err := s.measure(ctx, orgID, start)
	if err != nil {
		return nil, fmt.Errorf("billing: usage: %w", err)
	}
	u := &models.Usage{Period: start.Format("2006-01"), Usage: m.Figures(), Cost: s.prices.Cost(m), Agents: []models.AgentUsage{}}
	for _, id := range slices.Sorted(maps.Keys(agents)) {
		am := agents[id]
		f, c := am.Figures(), s.prices.Cost(am)
		u.Agents = append(u.Agents, models.AgentUsage{AgentID: id, ComputeHours: f.ComputeHours, NetworkGB: f.NetworkGB, Compute: c.Compute, Network: c.Network})
	}
	return u, nil
}

func (s *Service) measure(ctx context.Context, orgID string, start time.Time) (Measure, map[string]Measure, error) {
	end := start.AddDate(0, 1, 0)
	now := s.clock.Now()
	total := Measure{MonthSeconds: int64(end.Sub(start) / time.Second), ByteSeconds: new(big.Int)}
	agents := map[string]Measure{}
	var ivs []interval
	if err := s.db.NewSelect().Model(&ivs).Where("org_id = ?", orgID).
		Where("started_at < ?", end).Where("COALESCE(ended_at, last_seen_at) > ?", start).Scan(ctx); err != nil {
		return total, nil, err
	}
	// Intervals add up exactly (to the microsecond kept) and each sum is cut
	// to whole seconds once, so that a restart's two intervals lose nothing.
	var totalUp time.Duration
	agentUp := map[string]time.Duration{}
	for _, iv := range ivs {
		// An open interval counts to its last heartbeat: what is known to have run.
		to := iv.LastSeenAt
		if iv.EndedAt != nil {
			to = *iv.EndedAt
		}
		from := maxTime(iv.StartedAt, start)
		to = minTime(minTime(to, end), now)
		if !to.After(from) {
			continue
		}
		totalUp += to.Sub(from)
		agentUp[iv.AgentID] += to.Sub(from)
	}
	total.ReplicaSeconds = int64(totalUp / time.Second)
	for id, up := range agentUp {
		agents[id] = Measure{ReplicaSeconds: int64(up / time.Second), MonthSeconds: total.MonthSeconds}
	}
	var net []struct {
		AgentID string `bun:"agent_id"`
		Bytes   int64  `bun:"bytes"`
	}
	if err := s.db.NewSelect().Table("network_usage").ColumnExpr("agent_id, SUM(bytes) AS bytes").
		Where("org_id = ?", orgID).Where("day >= ?", start.Format(time.DateOnly)).Where("day < ?", end.Format(time.DateOnly)).
		Group("agent_id").Scan(ctx, &net); err != nil {
		return total, nil, err
	}
	for _, n := range net {
		total.NetworkBytes += n.Bytes
		a := agents[n.AgentID]
		a.NetworkBytes += n.Bytes
		a.MonthSeconds = total.MonthSeconds
		agents[n.AgentID] = a
	}
	row := &storageRow{OrgID: orgID, Period: start.Format("2006-01")}
	switch err := s.db.NewSelect().Model(row).WherePK().Scan(ctx); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return total, nil, err
	default:
		if _, ok := total.ByteSeconds.SetString(row.ByteSeconds, 10); !ok {
			return total, nil, fmt.Errorf("storage_usage: byte_seconds %q", row.ByteSeconds)
		}
	}
	return total, agents, nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
