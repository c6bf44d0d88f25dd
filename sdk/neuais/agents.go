package neuais

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Agent is an agent as the API returns it. Fields left out by a list's
// Fields option are zero.
type Agent struct {
	ID           string            `json:"id"`
	Name         string            `json:"name"`
	Status       string            `json:"status"`
	Replicas     int               `json:"replicas"`
	Region       string            `json:"region"`
	Runtime      string            `json:"runtime"`
	BinaryURL    string            `json:"binary_url"`
	BinarySHA256 string            `json:"binary_sha256"`
	Config       *AgentConfig      `json:"config,omitempty"`
	Environment  map[string]string `json:"environment,omitempty"`
	Endpoints    []string          `json:"endpoints,omitempty"`
	CreatedAt    time.Time         `json:"created_at"`
	UpdatedAt    time.Time         `json:"updated_at"`
}

// AgentConfig is an agent's resource request.
type AgentConfig struct {
	CPU      string `json:"cpu,omitempty"`
	Memory   string `json:"memory,omitempty"`
	Replicas int    `json:"replicas,omitempty"`
}

// CreateAgentRequest is the body of a create.
type CreateAgentRequest struct {
	Name         string            `json:"name"`
	Runtime      string            `json:"runtime"`
	BinaryURL    string            `json:"binary_url"`
	BinarySHA256 string            `json:"binary_sha256,omitempty"`
	Region       string            `json:"region,omitempty"`
	Config       *AgentConfig      `json:"config,omitempty"`
	Environment  map[string]string `json:"environment,omitempty"`
	// IdempotencyKey makes retries of the same create safe.
	IdempotencyKey string `json:"-"`
}

// UpdateAgentRequest is a partial change: nil and empty fields stay as they are.
type UpdateAgentRequest struct {
	BinaryURL    string            `json:"binary_url,omitempty"`
	BinarySHA256 string            `json:"binary_sha256,omitempty"`
	Config       *AgentConfig      `json:"config,omitempty"`
	Environment  map[string]string `json:"environment,omitempty"`
}

// ListAgentsOptions filter, page and order a list of agents.
type ListAgentsOptions struct {
	ListOptions
	Status string
	Region string
}

// AgentList is one page of agents.
type AgentList struct {
	Agents []Agent `json:"agents"`
	Page
}

// AgentsService calls the /agents routes.
type AgentsService struct{ c *Client }

// Agents returns the agents API.
func (c *Client) Agents() *AgentsService { return &AgentsService{c} }

// List returns a page of the organization's agents; opts may be nil.
func (s *AgentsService) List(ctx context.Context, opts *ListAgentsOptions) (*AgentList, error) {
	q := url.Values{}
	if opts != nil {
		q = opts.values()
		if opts.Status != "" {
			q.Set("status", opts.Status)
		}
		if opts.Region != "" {
			q.Set("region", opts.Region)
		}
	}
	var list AgentList
	if err := s.c.do(ctx, http.MethodGet, "/agents", q, nil, &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// Get returns one agent.
func (s *AgentsService) Get(ctx context.Context, id string) (*Agent, error) {
	return s.agent(ctx, http.MethodGet, "/agents/"+url.PathEscape(id), nil, nil)
}

// Create creates an agent and returns the create answer (id, name, status, created_at).
func (s *AgentsService) Create(ctx context.Context, req CreateAgentRequest) (*Agent, error) {
	var a Agent
	if err := s.c.do(ctx, http.MethodPost, "/agents", nil, req, &a, "Idempotency-Key", req.IdempotencyKey); err != nil {
		return nil, err
	}
	return &a, nil
}

// Update changes the fields given.
func (s *AgentsService) Update(ctx context.Context, id string, req UpdateAgentRequest) (*Agent, error) {
	return s.agent(ctx, http.MethodPut, "/agents/"+url.PathEscape(id), nil, req)
}

// Delete deletes an agent and stops its replicas.
func (s *AgentsService) Delete(ctx context.Context, id string) error {
	return s.c.do(ctx, http.MethodDelete, "/agents/"+url.PathEscape(id), nil, nil, nil)
}

// Start asks for the agent to run.
func (s *AgentsService) Start(ctx context.Context, id string) (*Agent, error) {
	return s.agent(ctx, http.MethodPost, "/agents/"+url.PathEscape(id)+"/start", nil, nil)
}

// Stop asks for the agent's replicas to stop.
func (s *AgentsService) Stop(ctx context.Context, id string) (*Agent, error) {
	return s.agent(ctx, http.MethodPost, "/agents/"+url.PathEscape(id)+"/stop", nil, nil)
}

// Restart restarts every replica, one at a time.
func (s *AgentsService) Restart(ctx context.Context, id string) (*Agent, error) {
	return s.agent(ctx, http.MethodPost, "/agents/"+url.PathEscape(id)+"/restart", nil, nil)
}

// Scale sets the replica count.
func (s *AgentsService) Scale(ctx context.Context, id string, replicas int) (*Agent, error) {
	return s.agent(ctx, http.MethodPost, "/agents/"+url.PathEscape(id)+"/scale", nil, map[string]int{"replicas": replicas})
}

// Wait returns the agent once it has status, or an Error with code
// "timeout" when timeout passes first.
func (s *AgentsService) Wait(ctx context.Context, id, status string, timeout time.Duration) (*Agent, error) {
	q := url.Values{"status": {status}, "timeout": {timeout.String()}}
	return s.agent(ctx, http.MethodGet, "/agents/"+url.PathEscape(id)+"/wait", q, nil)
}

func (s *AgentsService) agent(ctx context.Context, method, path string, q url.Values, body any) (*Agent, error) {
	var a Agent
	if err := s.c.do(ctx, method, path, q, body, &a); err != nil {
		return nil, err
	}
	return &a, nil
}
