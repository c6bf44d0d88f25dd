package models

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/uptrace/bun"
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

// Agent is a user's binary run as replicas. Desired* and the spec fields
// are written by the API; Status and StatusReason by the runtime, and by the
// API for the transitions (stopping, starting, restarting) it starts.
type Agent struct {
	bun.BaseModel `bun:"table:agents"`

	ID           string `bun:"id,pk"`
	OrgID        string `bun:"org_id,notnull"`
	Name         string `bun:"name,notnull"`
	Runtime      string `bun:"runtime,notnull"`
	Region       string `bun:"region,notnull"`
	BinaryURL    string `bun:"binary_url,notnull"`
	BinarySHA256 string `bun:"binary_sha256,notnull"`
	// BinaryID is the uploaded binary BinaryURL names, empty for a URL
	// the runtime downloads.
	BinaryID string `bun:"binary_id,nullzero"`
	CPU      string `bun:"cpu,notnull"`
	Memory   string `bun:"memory,notnull"`
	Replicas int    `bun:"replicas,notnull"`
	// Environment is the agent's variables in the clear; it is never
	// stored as such: the environment column holds SealedEnvironment.
	Environment       map[string]string `bun:"-"`
	SealedEnvironment string            `bun:"environment,notnull" json:"-"`
	Desired           DesiredState      `bun:"desired,notnull"`
	Status            AgentStatus       `bun:"status,notnull"`
	StatusReason      string            `bun:"status_reason,notnull"`
	// Generation increases on every change of the spec or desired state, so
	// the runtime can tell which replicas run an outdated spec.
	Generation int64     `bun:"generation,notnull"`
	Version    int64     `bun:"version,notnull"` // ETag source, bumped on every write
	CreatedAt  time.Time `bun:"created_at,notnull"`
	UpdatedAt  time.Time `bun:"updated_at,notnull"`
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

// Config returns the agent's resource request.
func (a *Agent) Config() AgentConfig {
	return AgentConfig{CPU: a.CPU, Memory: a.Memory, Replicas: a.Replicas}
}

// ETag returns the entity tag of the agent's current version, for If-Match.
func (a *Agent) ETag() string { return strconv.FormatInt(a.Version, 10) }
