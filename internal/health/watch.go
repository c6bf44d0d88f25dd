package health

import (
	"context"
	"time"
)

// Watch runs every check now and then every interval until ctx ends, and
// sends the reports: all of them first, then only those whose status,
// detail or version changed since the last send (uptime alone is no
// change). The channel closes when ctx ends. Errors: unauthorized.
func (r *Registry) Watch(ctx context.Context, interval time.Duration) (<-chan []*Report, error) {
	reports, err := r.CheckAll(ctx)
	if err != nil {
		return nil, err
	}
	c := make(chan []*Report, 1)
	c <- reports
	go func() {
		defer close(c)
		last := map[string]Report{}
		for _, rep := range reports {
			last[rep.Name] = *rep
		}
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			reports, err := r.CheckAll(ctx)
			if err != nil {
				return
			}
			var changed []*Report
			for _, rep := range reports {
				old, ok := last[rep.Name]
				if !ok || old.Status != rep.Status || old.Detail != rep.Detail || old.Version != rep.Version {
					changed = append(changed, rep)
					last[rep.Name] = *rep
				}
			}
			if len(changed) == 0 {
				continue
			}
			select {
			case c <- changed:
			case <-ctx.Done():
				return
			}
		}
	}()
	return c, nil
}
