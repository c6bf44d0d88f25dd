package runtime

import (
	"context"
	"net/http"

	"github.com/neuais/neuais/models"
)

// Runtime is what the server uses of the runtime that runs its agents:
// the Manager, or Off.
type Runtime interface {
	// Reconcile is told of every committed change of an agent.
	Reconcile(agentID string)
	// Proxy serves the agents' endpoints and passes other requests to next.
	Proxy(endpoints models.EndpointTemplate, next http.Handler) http.Handler
	Replicas(agentID string) []Replica
	// TakeMetering and ReturnMetering hand billing the replicas' intervals.
	TakeMetering() []Metered
	ReturnMetering(taken []Metered)
	Shutdown(ctx context.Context) error
}

var (
	_ Runtime = (*Manager)(nil)
	_ Runtime = Off{}
)

// Off is the runtime of a server that runs no agent
// (NEUAIS_RUNTIME_DRIVER=none): agents are stored and changed, never run,
// so their status stays what the API writes. It is not a no-op Driver
// under a Manager, which would fetch binaries and report statuses of
// agents that nothing runs.
type Off struct{}

func (Off) Reconcile(string) {}

func (Off) Proxy(_ models.EndpointTemplate, next http.Handler) http.Handler { return next }

func (Off) Replicas(string) []Replica { return nil }

func (Off) TakeMetering() []Metered { return nil }

func (Off) ReturnMetering([]Metered) {}

func (Off) Shutdown(context.Context) error { return nil }
