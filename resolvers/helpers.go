package resolvers

import (
	"context"

	"github.com/neuais/neuais/models"
)

// present readies the agent a service call returned for the reader
// (agents.Service.Present); a failed call's error is kept as it is.
func (r *Resolver) present(ctx context.Context) func(*models.Agent, error) (*models.Agent, error) {
	return func(a *models.Agent, err error) (*models.Agent, error) {
		if err != nil {
			return a, err
		}
		return a, r.Agents.Present(ctx, a)
	}
}

// deref returns *p, or "" for an absent optional argument.
func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// nonEmpty is s, or nil (null) when it is empty.
func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
