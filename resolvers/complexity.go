package resolvers

import (
	"github.com/neuais/neuais/graph"
	"github.com/neuais/neuais/models"
)

// rowsPerPoint is how many rows a list may return per point of complexity:
// without a cost for rows, aliases repeat agents(limit: 1000) hundreds of
// times within the limit.
const rowsPerPoint = 20

// passwordCost is the cost of a field that checks or hashes a password:
// bcrypt's tens of milliseconds each must not be bought by the hundred
// with aliases in one request.
const passwordCost = 100

// waitCost is the cost of waitForAgent: it holds a bus subscription for
// up to NEUAIS_MAX_AGENT_WAIT, and aliases would hold hundreds at once.
const waitCost = 50

// Complexity returns the cost of the list fields (their selection plus a
// point per rowsPerPoint rows they may return), of the password fields
// and of waits.
func Complexity() graph.ComplexityRoot {
	var c graph.ComplexityRoot
	c.Query.WaitForAgent = func(child int, _, _ string, _ *string) int { return child + waitCost }
	c.Mutation.CreateToken = func(child int, _, _ string) int { return child + passwordCost }
	c.Mutation.CreateUser = func(child int, _ models.CreateUserInput, _ *string) int { return child + passwordCost }
	c.Mutation.UpdateUser = func(child int, _ string, in models.UpdateUserInput) int {
		if in.Password == nil {
			return child + 1
		}
		return child + passwordCost
	}
	c.Query.Agents = func(child int, _, _, _, _ *string, limit, _ *int) int { return child + rows(limit) }
	c.Query.Services = func(child int, limit, _ *int, _ *string) int { return child + rows(limit) }
	c.Query.Users = func(child int, limit, _ *int, _ *string) int { return child + rows(limit) }
	c.Query.AgentLogs = func(child int, _ string, tail *int, _, _ *string) int { return child + rows(tail) }
	return c
}

// rows costs n rows; nil (no default in the schema) and negative counts
// cost nothing, being refused by the list's own validation.
func rows(n *int) int {
	if n == nil || *n <= 0 {
		return 0
	}
	return (*n + rowsPerPoint - 1) / rowsPerPoint
}
