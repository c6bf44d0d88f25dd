package models

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// AgentStatus is the state of an agent: the runtime's actual one, or the
// transition the API wrote when a lifecycle request asked for a change.
type AgentStatus string

// Agent statuses: deploying → running → stopped, and error, as the runtime
// reports them; stopping, starting and restarting from a stop, start or
// restart request until the runtime reports where the agent got to.
const (
	AgentDeploying  AgentStatus = "deploying"
	AgentRunning    AgentStatus = "running"
	AgentStopped    AgentStatus = "stopped"
	AgentError      AgentStatus = "error"
	AgentStopping   AgentStatus = "stopping"
	AgentStarting   AgentStatus = "starting"
	AgentRestarting AgentStatus = "restarting"
)

// AgentStatuses lists every status, for validation messages.
var AgentStatuses = []AgentStatus{AgentDeploying, AgentRunning, AgentStopped, AgentError, AgentStopping, AgentStarting, AgentRestarting}

// Valid reports whether s is a known status.
func (s AgentStatus) Valid() bool { return slices.Contains(AgentStatuses, s) }

// DesiredState is what the user asked the runtime to do with an agent.
type DesiredState string

// Desired states.
const (
	DesiredRunning DesiredState = "running"
	DesiredStopped DesiredState = "stopped"
)

// AgentConfig is the resource request of an agent.
type AgentConfig struct {
	CPU      string `json:"cpu"`
	Memory   string `json:"memory"`
	Replicas int    `json:"replicas"`
}

// Sealer encrypts what is stored for users and decrypts it
// (secrets.Keyring), binding each value to its context.
type Sealer interface {
	Seal(plain []byte, context string) string
	Open(sealed, context string) ([]byte, error)
}

func (a *Agent) environmentContext() string { return "agent environment " + a.ID }

// SealEnvironment encrypts Environment into SealedEnvironment, before a write.
func (a *Agent) SealEnvironment(s Sealer) error {
	data, err := json.Marshal(a.Environment)
	if err != nil {
		return fmt.Errorf("models: environment: %w", err)
	}
	a.SealedEnvironment = s.Seal(data, a.environmentContext())
	return nil
}

// OpenEnvironment decrypts SealedEnvironment into Environment, after a
// read; a value stored before encryption (a JSON object) is read as it is.
func (a *Agent) OpenEnvironment(s Sealer) error {
	a.Environment = map[string]string{}
	if a.SealedEnvironment == "" {
		return nil
	}
	data := []byte(a.SealedEnvironment)
	if !strings.HasPrefix(a.SealedEnvironment, "{") {
		var err error
		if data, err = s.Open(a.SealedEnvironment, a.environmentContext()); err != nil {
			return fmt.Errorf("models: environment of %s: %w", a.ID, err)
		}
	}
	if err := json.Unmarshal(data, &a.Environment); err != nil {
		return fmt.Errorf("models: environment of %s: %w", a.ID, err)
	}
	return nil
}

// SetEndpoint names the template and organization slug Endpoints uses.
func (a *Agent) SetEndpoint(t *EndpointTemplate, orgSlug string) { a.endpoint, a.orgSlug = t, orgSlug }

// Endpoints returns the URLs at which the replicas are reachable, made
// only when a reader selects them; none before SetEndpoint.
func (a *Agent) Endpoints() []string {
	if a.endpoint == nil || a.endpoint.IsZero() {
		return []string{}
	}
	return []string{a.endpoint.URL(a.orgSlug, a.Name)}
}

// ShowEnvironment lets VisibleEnvironment open the environment with s.
func (a *Agent) ShowEnvironment(s Sealer) { a.shownWith = s }

// VisibleEnvironment is the environment as the caller may read it: nil
// unless ShowEnvironment was called. It is opened here, when a reader
// selects it, so that pages that leave it out decrypt nothing.
func (a *Agent) VisibleEnvironment() (map[string]any, error) {
	if a.shownWith == nil {
		return nil, nil
	}
	if a.Environment == nil {
		if err := a.OpenEnvironment(a.shownWith); err != nil {
			return nil, err
		}
	}
	env := make(map[string]any, len(a.Environment))
	for k, v := range a.Environment {
		env[k] = v
	}
	return env, nil
}

// Config returns the agent's resource request.
func (a *Agent) Config() AgentConfig {
	return AgentConfig{CPU: a.CPU, Memory: a.Memory, Replicas: a.Replicas}
}

// ETag returns the entity tag of the agent's current version, for If-Match.
func (a *Agent) ETag() string { return strconv.FormatInt(a.Version, 10) }
