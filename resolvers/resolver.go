// Package resolvers implements the GraphQL schema by calling the domain
// services; resolvers only read arguments and shape results.
package resolvers

import (
	"context"
	"time"

	"github.com/neuais/neuais/internal/agents"
	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/billing"
	"github.com/neuais/neuais/internal/binaries"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/internal/logs"
	"github.com/neuais/neuais/internal/metrics"
	"github.com/neuais/neuais/internal/orgs"
	"github.com/neuais/neuais/internal/tokens"
	"github.com/neuais/neuais/internal/users"
	"github.com/neuais/neuais/internal/webhooks"
)

// Resolver is the root resolver; its fields are the domain services.
type Resolver struct {
	Version string
	Auth    *auth.Service
	// Identity checks a live stream's token again (auth.Refresh).
	Identity auth.Authenticator
	Orgs     *orgs.Service
	Agents   *agents.Service
	Users    *users.Service
	Binaries *binaries.Service
	Tokens   *tokens.Service
	Health   *health.Registry
	Logs     *logs.Store
	Metrics  *metrics.Store
	Bus      events.Bus
	// EventLog is the durable event log (events, agentEvents).
	EventLog *events.Log
	Webhooks *webhooks.Service
	Billing  *billing.Service
	// Stopping ends when the server begins to shut down; live streams end then.
	Stopping context.Context
	// UserCheckInterval is how often a live stream checks that its token
	// still holds (DefaultUserCheckInterval when 0).
	UserCheckInterval time.Duration
}
