package neuais

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"time"
)

// Agent is an agent as the API returns it. Fields left out by a list's
// Fields option, and by the create answer (id, name, status, created_at),
// are zero.
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
	// IdempotencyKey makes retries of the same create safe; when empty the
	// client makes one for this call, so its own retries never create twice.
	IdempotencyKey string `json:"-"`
}

// UpdateAgentRequest is a partial change: empty fields stay as they are.
// Name cannot change; giving another is invalid_request.
type UpdateAgentRequest struct {
	Name         string            `json:"name,omitempty"`
	Runtime      string            `json:"runtime,omitempty"`
	BinaryURL    string            `json:"binary_url,omitempty"`
	BinarySHA256 string            `json:"binary_sha256,omitempty"`
	Config       *AgentConfig      `json:"config,omitempty"`
	Environment  map[string]string `json:"environment,omitempty"`
}

// ListAgentsOptions filter, page and order a list of agents.
type ListAgentsOptions struct {
	ListOptions
	Status     string // running, stopped, error, …
	Region     string
	NamePrefix string
}

func (o *ListAgentsOptions) values() url.Values {
	if o == nil {
		return url.Values{}
	}
	q := o.ListOptions.values()
	for k, v := range map[string]string{"status": o.Status, "region": o.Region, "name_prefix": o.NamePrefix} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
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

// List returns a page of the organization's agents (the first 100 without options).
func (s *AgentsService) List(opts ...*ListAgentsOptions) (*AgentList, error) {
	return s.ListContext(s.c.ctx, first(opts))
}

// ListContext is List with a context; opts may be nil.
// Errors: unauthorized, invalid_request (status, limit, offset, sort, fields).
func (s *AgentsService) ListContext(ctx context.Context, opts *ListAgentsOptions) (*AgentList, error) {
	var list AgentList
	if err := s.c.do(ctx, http.MethodGet, "/agents", opts.values(), nil, &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// All yields every agent that matches opts, over all pages.
func (s *AgentsService) All(opts ...*ListAgentsOptions) iter.Seq2[Agent, error] {
	return s.AllContext(s.c.ctx, first(opts))
}

// AllContext is All with a context; opts may be nil, and its Offset is
// where the first page starts.
func (s *AgentsService) AllContext(ctx context.Context, opts *ListAgentsOptions) iter.Seq2[Agent, error] {
	o := ListAgentsOptions{}
	if opts != nil {
		o = *opts
	}
	return pages(&o.ListOptions, func() ([]Agent, Page, error) {
		list, err := s.ListContext(ctx, &o)
		if err != nil {
			return nil, Page{}, err
		}
		return list.Agents, list.Page, nil
	})
}

// Get returns one agent.
func (s *AgentsService) Get(id string) (*Agent, error) { return s.GetContext(s.c.ctx, id) }

// GetContext is Get with a context. Errors: not_found.
func (s *AgentsService) GetContext(ctx context.Context, id string) (*Agent, error) {
	return s.agent(ctx, http.MethodGet, id, "", nil, nil)
}

// Create creates an agent and returns the create answer (id, name, status, created_at).
func (s *AgentsService) Create(req CreateAgentRequest) (*Agent, error) {
	return s.CreateContext(s.c.ctx, req)
}

// CreateContext is Create with a context. Errors: invalid_request (the
// field named in Details), conflict (name taken; IdempotencyKey reused
// with another request), forbidden (viewers).
func (s *AgentsService) CreateContext(ctx context.Context, req CreateAgentRequest) (*Agent, error) {
	key := req.IdempotencyKey
	if key == "" {
		key = newIdempotencyKey()
	}
	var a Agent
	if err := s.c.do(ctx, http.MethodPost, "/agents", nil, req, &a, "Idempotency-Key", key); err != nil {
		return nil, err
	}
	return &a, nil
}

// Update changes the fields given.
func (s *AgentsService) Update(id string, req UpdateAgentRequest) (*Agent, error) {
	return s.UpdateContext(s.c.ctx, id, req)
}

// UpdateContext is Update with a context. Errors: not_found, invalid_request.
func (s *AgentsService) UpdateContext(ctx context.Context, id string, req UpdateAgentRequest) (*Agent, error) {
	return s.agent(ctx, http.MethodPut, id, "", nil, req)
}

// Delete deletes an agent and stops its replicas.
func (s *AgentsService) Delete(id string) error { return s.DeleteContext(s.c.ctx, id) }

// DeleteContext is Delete with a context. Errors: not_found.
func (s *AgentsService) DeleteContext(ctx context.Context, id string) error {
	return s.c.do(ctx, http.MethodDelete, "/agents/"+url.PathEscape(id), nil, nil, nil)
}

// Start asks for the agent to run (status starting when it was stopped).
func (s *AgentsService) Start(id string) (*Agent, error) { return s.StartContext(s.c.ctx, id) }

// StartContext is Start with a context.
func (s *AgentsService) StartContext(ctx context.Context, id string) (*Agent, error) {
	return s.agent(ctx, http.MethodPost, id, "/start", nil, nil)
}

// Stop asks for the agent's replicas to stop (status stopping).
func (s *AgentsService) Stop(id string) (*Agent, error) { return s.StopContext(s.c.ctx, id) }

// StopContext is Stop with a context.
func (s *AgentsService) StopContext(ctx context.Context, id string) (*Agent, error) {
	return s.agent(ctx, http.MethodPost, id, "/stop", nil, nil)
}

// Restart replaces every replica (status restarting).
func (s *AgentsService) Restart(id string) (*Agent, error) { return s.RestartContext(s.c.ctx, id) }

// RestartContext is Restart with a context.
func (s *AgentsService) RestartContext(ctx context.Context, id string) (*Agent, error) {
	return s.agent(ctx, http.MethodPost, id, "/restart", nil, nil)
}

// Scale sets the replica count.
func (s *AgentsService) Scale(id string, replicas int) (*Agent, error) {
	return s.ScaleContext(s.c.ctx, id, replicas)
}

// ScaleContext is Scale with a context. Errors: invalid_request on replicas.
func (s *AgentsService) ScaleContext(ctx context.Context, id string, replicas int) (*Agent, error) {
	return s.agent(ctx, http.MethodPost, id, "/scale", nil, map[string]int{"replicas": replicas})
}

// Wait returns the agent once it has status, or an Error with code
// "timeout" when timeout passes first (at most the server's
// NEUAIS_MAX_AGENT_WAIT).
func (s *AgentsService) Wait(id, status string, timeout time.Duration) (*Agent, error) {
	return s.WaitContext(s.c.ctx, id, status, timeout)
}

// WaitContext is Wait with a context.
func (s *AgentsService) WaitContext(ctx context.Context, id, status string, timeout time.Duration) (*Agent, error) {
	q := url.Values{"status": {status}, "timeout": {timeout.String()}}
	return s.agent(ctx, http.MethodGet, id, "/wait", q, nil)
}

func (s *AgentsService) agent(ctx context.Context, method, id, sub string, q url.Values, body any) (*Agent, error) {
	var a Agent
	if err := s.c.do(ctx, method, "/agents/"+url.PathEscape(id)+sub, q, body, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// pages yields the items of every page fetch returns, moving o.Offset on
// until the server says there are no more.
func pages[T any](o *ListOptions, fetch func() ([]T, Page, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		for {
			items, page, err := fetch()
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if !page.HasMore || len(items) == 0 {
				return
			}
			o.Offset += len(items)
		}
	}
}
