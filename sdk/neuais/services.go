package neuais

import (
	"context"
	"iter"
	"net/http"
	"net/url"
)

// Service is one platform component and its health (healthy, degraded, unhealthy).
type Service struct {
	Name    string `json:"name"`
	Status  string `json:"status"`
	Detail  string `json:"detail,omitempty"` // what is wrong, or the figures; from Status only
	Version string `json:"version"`
	Uptime  string `json:"uptime"`
	// Instance is the API instance that ran the check; from Status only.
	Instance string `json:"instance,omitempty"`
}

// ServiceList is one page of components.
type ServiceList struct {
	Services []Service `json:"services"`
	Page
}

// ServicesService calls the /services routes.
type ServicesService struct{ c *Client }

// Services returns the services API.
func (c *Client) Services() *ServicesService { return &ServicesService{c} }

// List returns a page of the components, each checked on this read.
func (s *ServicesService) List(opts ...*ListOptions) (*ServiceList, error) {
	return s.ListContext(s.c.ctx, first(opts))
}

// ListContext is List with a context; opts may be nil.
func (s *ServicesService) ListContext(ctx context.Context, opts *ListOptions) (*ServiceList, error) {
	var list ServiceList
	if err := s.c.do(ctx, http.MethodGet, "/services", opts.values(), nil, &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// All yields every component, over all pages.
func (s *ServicesService) All(opts ...*ListOptions) iter.Seq2[Service, error] {
	return s.AllContext(s.c.ctx, first(opts))
}

// AllContext is All with a context; opts may be nil.
func (s *ServicesService) AllContext(ctx context.Context, opts *ListOptions) iter.Seq2[Service, error] {
	o := ListOptions{}
	if opts != nil {
		o = *opts
	}
	return pages(&o, func() ([]Service, Page, error) {
		list, err := s.ListContext(ctx, &o)
		if err != nil {
			return nil, Page{}, err
		}
		return list.Services, list.Page, nil
	})
}

// Status checks one component.
func (s *ServicesService) Status(name string) (*Service, error) {
	return s.StatusContext(s.c.ctx, name)
}

// StatusContext is Status with a context. Errors: not_found.
func (s *ServicesService) StatusContext(ctx context.Context, name string) (*Service, error) {
	var svc Service
	if err := s.c.do(ctx, http.MethodGet, "/services/"+url.PathEscape(name)+"/status", nil, nil, &svc); err != nil {
		return nil, err
	}
	return &svc, nil
}
