package health

import (
	"context"
	"fmt"
	"slices"
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
	// Instance is the API instance that ran the check.
	Instance string
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

// Page is one page of reports with the number of components registered.
type Page struct {
	Items   []*Report
	Total   int
	Limit   int
	Offset  int
	HasMore bool
}

var sortColumns = map[string]string{"name": "name"}

// List runs the checks of one page of components, sorted by name,
// concurrently and each within CheckTimeout; components off the page are
// not checked. Any authenticated caller may ask.
// Errors: unauthorized; invalid_request on limit, offset or sort.
func (r *Registry) List(ctx context.Context, p models.ListParams) (*Page, error) {
	if _, err := models.RequireIdentity(ctx); err != nil {
		return nil, err
	}
	order, err := p.Validate(sortColumns, models.SortOrder{Column: "name"})
	if err != nil {
		return nil, err
	}
	components := r.Components()
	if order.Desc {
		slices.Reverse(components)
	}
	total := len(components)
	reports := r.checkEach(ctx, components[min(p.Offset, total):min(p.Offset+p.Limit, total)])
	return &Page{Items: reports, Total: total, Limit: p.Limit, Offset: p.Offset, HasMore: p.Offset+len(reports) < total}, nil
}

// CheckAll runs every component's check, as List does, and returns the
// reports sorted by name. Errors: unauthorized.
func (r *Registry) CheckAll(ctx context.Context) ([]*Report, error) {
	if _, err := models.RequireIdentity(ctx); err != nil {
		return nil, err
	}
	return r.checkEach(ctx, r.Components()), nil
}

// checkEach runs the checks of components concurrently, each within
// CheckTimeout, and returns their reports in the same order.
func (r *Registry) checkEach(ctx context.Context, components []Component) []*Report {
	reports := make([]*Report, len(components))
	var wg sync.WaitGroup
	for i, c := range components {
		wg.Go(func() { reports[i] = r.check(ctx, c) })
	}
	wg.Wait()
	return reports
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
	return r.check(ctx, c), nil
}

func (r *Registry) check(ctx context.Context, c Component) *Report {
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
	rep := &Report{Name: c.Name, Version: c.Version, Started: c.Started, Instance: r.instance}
	select {
	case res := <-done:
		rep.Status, rep.Detail = res.status, res.detail
	case <-ctx.Done():
		rep.Status, rep.Detail = Unhealthy, "check timed out"
	}
	rep.At = time.Now()
	return rep
}
