// Package health keeps the registry of the platform's components and
// their checks, behind GET /v1/services and /readyz.
package health

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Status of a component.
type Status string

// Statuses, best first.
const (
	Healthy   Status = "healthy"
	Degraded  Status = "degraded"
	Unhealthy Status = "unhealthy"
)

// Check reports a component's status and a short human detail ("" when healthy).
type Check func(ctx context.Context) (Status, string)

// Component is one registered part of the platform.
type Component struct {
	Name    string
	Version string
	Started time.Time
	Check   Check
}

// Registry holds the components; capabilities register theirs at wiring time.
type Registry struct {
	instance   string
	mu         sync.RWMutex
	components map[string]Component
}

// NewRegistry returns an empty registry whose reports name instance, the
// API instance that ran the checks.
func NewRegistry(instance string) *Registry {
	return &Registry{instance: instance, components: map[string]Component{}}
}

// Register adds or replaces a component.
func (r *Registry) Register(c Component) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.components[c.Name] = c
}

// Components returns the components sorted by name.
func (r *Registry) Components() []Component {
	r.mu.RLock()
	defer r.mu.RUnlock()
	list := make([]Component, 0, len(r.components))
	for _, c := range r.components {
		list = append(list, c)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	return list
}

// Get returns the named component.
func (r *Registry) Get(name string) (Component, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.components[name]
	return c, ok
}
