package app

import "time"

// idempotencySweepInterval is how often expired idempotency records go.
const idempotencySweepInterval = 10 * time.Minute

// sweepIdempotencyKeys removes expired idempotency records at start and
// every idempotencySweepInterval until the server stops, so that what their
// responses hold (agents' environments, users' e-mails) does not outlive the window.
func (a *App) sweepIdempotencyKeys() {
	defer a.background.Done()
	tick := time.NewTicker(idempotencySweepInterval)
	defer tick.Stop()
	for {
		if n, err := a.Agents.SweepIdempotencyKeys(a.Stopping); err != nil && a.Stopping.Err() == nil {
			a.Logger.Error("sweep idempotency keys", "err", err)
		} else if n > 0 {
			a.Logger.Debug("swept idempotency keys", "count", n)
		}
		select {
		case <-a.Stopping.Done():
			return
		case <-tick.C:
		}
	}
}
