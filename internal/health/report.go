package health

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/neuais/neuais/models"
)

// CheckTimeout bounds one component's check; a check that runs over is
// reported unhealthy.
const CheckTimeout = 2 * time.Second

// Report is the result of checking one component.
type Report struct {
	Name    string
	Version string
	Status  Status
	// Detail says what is wrong; empty when healthy.
	Detail  string
	Started time.Time
	// At is when the check ran; uptime counts up to it.
	At time.Time
}

// Uptime returns the time since the component started, written as
// "5d 12h 30m".
func (r Report) Uptime() string {
	d := r.At.Sub(r.Started)
	if d < 0 {
		d = 0
	}
	mins := int64(d / time.Minute)
	return fmt.Sprintf("%dd %dh %dm", mins/(24*60), mins/60%24, mins%60)
}

// UptimeSeconds returns the uptime in whole seconds.
func (r Report) UptimeSeconds() int { return int(r.At.Sub(r.Started) / time.Second) }

// CheckAll runs every component's check concurrently, each within
// CheckTimeout, and returns the reports sorted by name. Any authenticated
// caller may ask. Errors: unauthorized.
func (r *Registry) CheckAll(ctx context.Context) ([]*Report, error) {
	if _, err := models.RequireIdentity(ctx); err != nil {
		return nil, err
	}
	components := r.Components()
	reports := make([]*Report, len(components))
	var wg sync.WaitGroup
	for i, c := range components {
		wg.Go(func() { reports[i] = check(ctx, c) })
	}
	wg.Wait()
	return reports, nil
}

// CheckOne runs the named component's check. Errors: unauthorized, not_found.
func (r *Registry) CheckOne(ctx context.Context, name string) (*Report, error) {
	if _, err := models.RequireIdentity(ctx); err != nil {
		return nil, err
	}
	c, ok := r.Get(name)
	if !ok {
		return nil, models.NotFound("service")
	}
	return check(ctx, c), nil
}

func check(ctx context.Context, c Component) *Report {
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	type result struct {
		status Status
		detail string
	}
	done := make(chan result, 1)
	go func() {
		s, d := c.Check(ctx)
		done <- result{s, d}
	}()
	rep := &Report{Name: c.Name, Version: c.Version, Started: c.Started}
	select {
	case res := <-done:
		rep.Status, rep.Detail = res.status, res.detail
	case <-ctx.Done():
		rep.Status, rep.Detail = Unhealthy, "check timed out"
	}
	rep.At = time.Now()
	return rep
}
