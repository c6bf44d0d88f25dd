package neuais

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// LogLine is one line of an agent's log. Replica is the index (from 1) of
// the replica that wrote it, 0 for the platform's lines about the agent.
type LogLine struct {
	Timestamp time.Time `json:"timestamp"`
	Level     string    `json:"level"`
	Message   string    `json:"message"`
	Replica   int       `json:"replica"`
}

// LogOptions select log lines; zero values take the server's defaults
// (the last 100 lines of every level).
type LogOptions struct {
	Tail  int
	Since time.Duration // lines of the last Since
	Level string        // debug, info, warn or error: that level and more severe
}

// Point is one value of a metric series.
type Point struct {
	Timestamp time.Time `json:"timestamp"`
	Value     float64   `json:"value"`
}

// Metrics are an agent's series over a period; a series not asked for is nil.
type Metrics struct {
	CPU     []Point `json:"cpu,omitempty"`
	Memory  []Point `json:"memory,omitempty"`
	Network []Point `json:"network,omitempty"`
}

// Logs returns an agent's log lines, oldest first; opts may be nil.
func (s *AgentsService) Logs(ctx context.Context, id string, opts *LogOptions) ([]LogLine, error) {
	q := url.Values{}
	if opts != nil {
		if opts.Tail > 0 {
			q.Set("tail", strconv.Itoa(opts.Tail))
		}
		if opts.Since > 0 {
			q.Set("since", opts.Since.String())
		}
		if opts.Level != "" {
			q.Set("level", opts.Level)
		}
	}
	var out struct {
		Logs []LogLine `json:"logs"`
	}
	if err := s.c.do(ctx, http.MethodGet, "/agents/"+url.PathEscape(id)+"/logs", q, nil, &out); err != nil {
		return nil, err
	}
	return out.Logs, nil
}

// Metrics returns an agent's series over period ("1h", "24h" or "7d";
// "" for 1h), all of them or only metric ("cpu", "memory", "network").
func (s *AgentsService) Metrics(ctx context.Context, id, period, metric string) (*Metrics, error) {
	q := url.Values{}
	if period != "" {
		q.Set("period", period)
	}
	if metric != "" {
		q.Set("metric", metric)
	}
	var out struct {
		Metrics Metrics `json:"metrics"`
	}
	if err := s.c.do(ctx, http.MethodGet, "/agents/"+url.PathEscape(id)+"/metrics", q, nil, &out); err != nil {
		return nil, err
	}
	return &out.Metrics, nil
}
