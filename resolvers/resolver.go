// Package resolvers implements the GraphQL schema by calling the domain
// services; resolvers only read arguments and shape results.
package resolvers

import (
	"github.com/neuais/neuais/internal/agents"
	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/internal/orgs"
	"github.com/neuais/neuais/internal/users"
)

// Resolver is the root resolver; its fields are the domain services.
type Resolver struct {
	Version string
	Auth    *auth.Service
	Orgs    *orgs.Service
	Agents  *agents.Service
	Users   *users.Service
	Health  *health.Registry
}
