package app

import (
	"context"

	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/migrations"
)

// registerComponents registers the foundation's components; capabilities
// wired later register their own.
func (a *App) registerComponents() {
	for _, c := range []health.Component{
		{Name: "api", Check: a.checkAPI},
		{Name: "auth", Check: a.checkAuth},
		{Name: "database", Check: a.checkDatabase},
	} {
		c.Version, c.Started = Version, a.Started
		a.Health.Register(c)
	}
}

// checkAPI is unhealthy once shutdown has begun, when the server no longer
// takes new work.
func (a *App) checkAPI(context.Context) (health.Status, string) {
	if a.Stopping.Err() != nil {
		return health.Unhealthy, "shutting down"
	}
	return health.Healthy, ""
}

// checkAuth proves the token secret is loaded and a token round-trips.
func (a *App) checkAuth(context.Context) (health.Status, string) {
	if err := a.Auth.SelfTest(); err != nil {
		a.Logger.Error("auth self-test", "err", err)
		return health.Unhealthy, "token round-trip failed"
	}
	return health.Healthy, ""
}

// checkDatabase pings the database and looks for unapplied migrations.
func (a *App) checkDatabase(ctx context.Context) (health.Status, string) {
	if err := a.DB.PingContext(ctx); err != nil {
		return health.Unhealthy, "database unreachable"
	}
	pending, err := migrations.Pending(ctx, a.DB)
	if err != nil {
		return health.Degraded, "migration status unknown"
	}
	if pending > 0 {
		return health.Degraded, "migrations pending"
	}
	return health.Healthy, ""
}
