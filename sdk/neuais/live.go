package neuais

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// LogLine is one line of an agent's log. Replica is the index (from 1) of
// the replica that wrote it, 0 for the platform's lines about the agent.
// ID is set on followed lines: the stream's event id, which resumes it.
type LogLine struct {
	ID        string    `json:"-"`
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
	// After, when following, resumes after this line id (a LogLine.ID)
	// instead of starting with the tail.
	After string
}

func (o *LogOptions) values(resuming bool) url.Values {
	q := url.Values{}
	if o == nil {
		return q
	}
	if o.Level != "" {
		q.Set("level", o.Level)
	}
	if resuming {
		return q
	}
	if o.Tail > 0 {
		q.Set("tail", strconv.Itoa(o.Tail))
	}
	if o.Since > 0 {
		q.Set("since", o.Since.String())
	}
	return q
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

// Logs returns an agent's log lines, oldest first.
func (s *AgentsService) Logs(id string, opts ...*LogOptions) ([]LogLine, error) {
	return s.LogsContext(s.c.ctx, id, first(opts))
}

// LogsContext is Logs with a context; opts may be nil.
// Errors: not_found, invalid_request (tail, since, level).
func (s *AgentsService) LogsContext(ctx context.Context, id string, opts *LogOptions) ([]LogLine, error) {
	var out struct {
		Logs []LogLine `json:"logs"`
	}
	if err := s.c.do(ctx, http.MethodGet, "/agents/"+url.PathEscape(id)+"/logs", opts.values(false), nil, &out); err != nil {
		return nil, err
	}
	return out.Logs, nil
}

// FollowLogs yields an agent's log lines as they are written, first the
// ones opts select; see FollowLogsContext.
func (s *AgentsService) FollowLogs(id string, opts ...*LogOptions) iter.Seq2[LogLine, error] {
	return s.FollowLogsContext(s.c.ctx, id, first(opts))
}

// FollowLogsContext follows an agent's log over Server-Sent Events until
// the loop stops, ctx ends (its error is yielded) or the stream ends for
// good (the agent deleted: not_found; the token expired: unauthorized;
// yielded as the last error). When the connection drops or the server
// restarts (service_unavailable) it reconnects with Last-Event-ID, waiting
// up to 2 s between attempts, so no line is lost or seen twice.
func (s *AgentsService) FollowLogsContext(ctx context.Context, id string, opts *LogOptions) iter.Seq2[LogLine, error] {
	var after string
	if opts != nil {
		after = opts.After
	}
	return follow(ctx, s.c, "/agents/"+url.PathEscape(id)+"/logs",
		func(resuming bool) url.Values { return withFollow(opts.values(resuming)) }, after,
		func(evID string, data []byte) (LogLine, error) {
			var line LogLine
			if err := json.Unmarshal(data, &line); err != nil {
				return LogLine{}, fmt.Errorf("neuais: decode log line: %w", err)
			}
			line.ID = evID
			return line, nil
		})
}

// follow reads a follow stream of path, query(resuming) its query, until
// the loop stops, ctx ends or the server ends it for good with an error
// other than service_unavailable and rate_limit_exceeded; it reconnects
// after the last event id seen (or after), waiting up to 2 s between
// attempts. decode turns an event into an item; its error is yielded and
// the stream goes on.
func follow[T any](ctx context.Context, c *Client, path string, query func(resuming bool) url.Values, after string,
	decode func(id string, data []byte) (T, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		last := after
		for attempt := 0; ; attempt++ {
			res, err := c.send(ctx, http.MethodGet, path, query(last != ""), nil, "text/event-stream", "Last-Event-ID", last)
			if err == nil {
				err = readEvents(res, func(evID string, data []byte) bool {
					item, err := decode(evID, data)
					if err == nil {
						last, attempt = evID, 0
					}
					return yield(item, err)
				})
				if err == errStopped {
					return
				}
			}
			var apiErr *Error
			switch {
			case ctx.Err() != nil:
				yield(zero, ctx.Err())
				return
			case errors.As(err, &apiErr) && apiErr.Code != "service_unavailable" && apiErr.Code != "rate_limit_exceeded":
				yield(zero, err)
				return
			}
			if sleep(ctx, backoff(attempt)) != nil {
				yield(zero, ctx.Err())
				return
			}
		}
	}
}

func withFollow(q url.Values) url.Values {
	q.Set("follow", "true")
	return q
}

// errStopped is readEvents' answer when the consumer stopped.
var errStopped = errors.New("stopped")

// readEvents reads a Server-Sent Events stream and closes it: each data
// event goes to event, which returns false to stop (errStopped); a final
// "error" event is returned as an *Error; the end of the stream or a read
// error returns nil.
func readEvents(res *http.Response, event func(id string, data []byte) bool) error {
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var id, name string
	var data []string
	for sc.Scan() {
		line := sc.Text()
		if line != "" {
			field, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch field {
			case "id":
				id = value
			case "event":
				name = value
			case "data":
				data = append(data, value)
			}
			continue
		}
		if len(data) > 0 {
			payload := []byte(strings.Join(data, "\n"))
			if name == "error" {
				var env struct {
					Error Error `json:"error"`
				}
				_ = json.Unmarshal(payload, &env)
				env.Error.StatusCode = statusOf(env.Error.Code)
				return &env.Error
			}
			if !event(id, payload) {
				return errStopped
			}
		}
		name, data = "", nil
	}
	return nil
}

// statusOf is the HTTP status the contract gives an error code, for the
// errors that arrive inside a stream.
func statusOf(code string) int {
	return map[string]int{
		"invalid_request": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404, "conflict": 409,
		"rate_limit_exceeded": 429, "internal_error": 500, "service_unavailable": 503,
	}[code]
}

// Metrics returns an agent's series over period ("1h", "24h" or "7d";
// "" for 1h), all of them or only metric ("cpu", "memory", "network").
func (s *AgentsService) Metrics(id, period, metric string) (*Metrics, error) {
	return s.MetricsContext(s.c.ctx, id, period, metric)
}

// MetricsContext is Metrics with a context.
// Errors: not_found, invalid_request (period, metric).
func (s *AgentsService) MetricsContext(ctx context.Context, id, period, metric string) (*Metrics, error) {
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
