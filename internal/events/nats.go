package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/models"
)

// Message types whose payloads the NATS bus knows how to carry. Agent
// event types (agent.*) carry an AgentEvent.
const (
	TypeLogLine      = "log"    // payload *models.LogLine
	TypeMetricSample = "metric" // payload *models.MetricSample
)

// subjectPrefix keeps the platform's subjects apart from other users of
// the NATS server.
const subjectPrefix = "neuais."

// NATS is the bus shared by several API instances through a NATS server.
// Messages travel as JSON; each subscriber has its own bounded buffer as
// on the in-process bus, and one that falls behind is dropped.
type NATS struct {
	conn   *nats.Conn
	buffer int
	log    *slog.Logger

	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool

	dropped atomic.Int64
}

// NewNATS connects to the NATS server at rawURL (nats://host:port, or
// tls:// for TLS); buffer as in NewInProcess. Credentials: a user and
// password (nats://user:password@host:4222) or a token
// (nats://token@host:4222) in the URL, or the query parameter nkey naming
// a file that holds an NKey seed. It keeps reconnecting when the server goes away.
func NewNATS(rawURL string, buffer int, log *slog.Logger) (*NATS, error) {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	if log == nil {
		log = slog.Default()
	}
	server, opts, err := natsOptions(rawURL)
	if err != nil {
		return nil, err
	}
	opts = append(opts, nats.Name("neuais"), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second))
	conn, err := nats.Connect(server, opts...)
	if err != nil {
		return nil, fmt.Errorf("events: connect to nats at %s: %w", RedactURL(rawURL), err)
	}
	return &NATS{conn: conn, buffer: buffer, log: log.With("component", "events"), subs: map[*Subscription]struct{}{}}, nil
}

// natsOptions splits a bus URL into the server URL (credentials in its
// user part are the client's to read) and the options its query names.
func natsOptions(rawURL string) (string, []nats.Option, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "nats" && u.Scheme != "tls") || u.Host == "" {
		return "", nil, fmt.Errorf("events: bus URL %s: want nats://[user:password@|token@]host:port[?nkey=SEED_FILE]", RedactURL(rawURL))
	}
	var opts []nats.Option
	for key, values := range u.Query() {
		if key != "nkey" {
			return "", nil, fmt.Errorf("events: bus URL: unknown parameter %q (want nkey)", key)
		}
		if len(values) != 1 || values[0] == "" {
			return "", nil, errors.New("events: bus URL: nkey takes one file name")
		}
		opt, err := nats.NkeyOptionFromSeed(values[0])
		if err != nil {
			return "", nil, fmt.Errorf("events: bus URL: nkey seed: %w", err)
		}
		opts = append(opts, opt)
	}
	u.RawQuery = ""
	return u.String(), opts, nil
}

// RedactURL returns rawURL with its password or token hidden, for errors and logs.
func RedactURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "<unparseable URL>"
	}
	if u.User != nil {
		if _, hasPassword := u.User.Password(); !hasPassword {
			u.User = url.User("xxxxx") // a token
		}
	}
	return u.Redacted()
}

// wire is a Message on the wire. OrgID and the event log's ID travel
// beside an AgentEvent, whose JSON form leaves them out.
type wire struct {
	Type    string          `json:"type"`
	ID      int64           `json:"id,omitempty"`
	Time    time.Time       `json:"time"`
	OrgID   string          `json:"org_id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// Publish implements Bus: the message is buffered by the NATS client and
// sent without waiting for subscribers. Errors: ErrClosed, and payloads
// that cannot be encoded.
func (b *NATS) Publish(_ context.Context, m Message) error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return ErrClosed
	}
	w := wire{Type: m.Type, Time: m.Time}
	if ev, ok := m.Payload.(AgentEvent); ok {
		w.OrgID, w.ID = ev.Data.OrgID, ev.ID
	}
	if m.Payload != nil {
		payload, err := json.Marshal(m.Payload)
		if err != nil {
			return fmt.Errorf("events: encode %s: %w", m.Type, err)
		}
		w.Payload = payload
	}
	data, err := json.Marshal(w)
	if err != nil {
		return fmt.Errorf("events: encode: %w", err)
	}
	if err := b.conn.Publish(subjectPrefix+m.Topic, data); err != nil {
		return fmt.Errorf("events: publish: %w", err)
	}
	return nil
}

// decode turns a wire message back into the payload type its publisher used.
func decode(topic string, data []byte) (Message, error) {
	var w wire
	if err := json.Unmarshal(data, &w); err != nil {
		return Message{}, err
	}
	m := Message{Topic: topic, Type: w.Type, Time: w.Time}
	if len(w.Payload) == 0 {
		return m, nil
	}
	var err error
	switch {
	case w.Type == TypeLogLine:
		line := new(models.LogLine)
		err, m.Payload = json.Unmarshal(w.Payload, line), line
	case w.Type == TypeMetricSample:
		sample := new(models.MetricSample)
		err, m.Payload = json.Unmarshal(w.Payload, sample), sample
	case strings.HasPrefix(w.Type, "agent."):
		var ev AgentEvent
		err = json.Unmarshal(w.Payload, &ev)
		ev.Data.OrgID, ev.ID = w.OrgID, w.ID
		m.Payload = ev
	default:
		m.Payload = w.Payload
	}
	return m, err
}

// Subscribe implements Bus. Errors: ErrClosed, or the server refusing.
func (b *NATS) Subscribe(ctx context.Context, topic string, opts ...SubscribeOption) (*Subscription, error) {
	o := subscribeOptions{buffer: b.buffer}
	for _, opt := range opts {
		opt(&o)
	}
	ch := make(chan Message, max(o.buffer, 1))
	s := &Subscription{C: ch, ch: ch}
	// mu guards the fields below: the callback, Close and ctx may end the
	// subscription while Subscribe is still setting it up.
	var mu sync.Mutex
	var (
		left    bool
		natsSub *nats.Subscription
		stop    func() bool
	)
	s.leave = func() {
		mu.Lock()
		left = true
		ns, st := natsSub, stop
		mu.Unlock()
		if st != nil {
			st()
		}
		if ns != nil {
			_ = ns.Unsubscribe()
		}
		b.mu.Lock()
		delete(b.subs, s)
		b.mu.Unlock()
		mu.Lock()
		close(ch) // under mu: the callback sends under mu and checks left first
		mu.Unlock()
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	ns, err := b.conn.Subscribe(subjectPrefix+topic, func(msg *nats.Msg) {
		m, err := decode(topic, msg.Data)
		if err != nil {
			b.log.Warn("undecodable event", "topic", topic, "err", err)
			return
		}
		mu.Lock()
		slow := false
		if !left {
			select {
			case ch <- m:
			default:
				slow = !o.wakeUp
			}
		}
		mu.Unlock()
		if slow {
			b.dropped.Add(1)
			s.end(ErrSlowSubscriber)
		}
	})
	if err != nil {
		s.end(nil)
		return nil, fmt.Errorf("events: subscribe: %w", err)
	}
	mu.Lock()
	natsSub = ns
	alreadyLeft := left
	mu.Unlock()
	if alreadyLeft {
		_ = ns.Unsubscribe()
		return s, nil
	}
	// The subscription must reach the server before Subscribe returns, so
	// that messages published afterwards are delivered.
	if err := b.conn.FlushTimeout(5 * time.Second); err != nil {
		s.end(nil)
		return nil, fmt.Errorf("events: subscribe: %w", err)
	}
	st := context.AfterFunc(ctx, func() { s.end(nil) })
	mu.Lock()
	stop = st
	alreadyLeft = left
	mu.Unlock()
	if alreadyLeft {
		st()
	}
	return s, nil
}

// Close ends every subscription with ErrClosed and closes the connection
// after sending what it buffered.
func (b *NATS) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	all := make([]*Subscription, 0, len(b.subs))
	for s := range b.subs {
		all = append(all, s)
	}
	b.mu.Unlock()
	for _, s := range all {
		s.end(ErrClosed)
	}
	if err := b.conn.Drain(); err != nil {
		b.conn.Close()
	}
	return nil
}

// Stats returns the bus's current figures.
func (b *NATS) Stats() Stats {
	b.mu.Lock()
	st := Stats{Closed: b.closed, Subscribers: int64(len(b.subs))}
	for s := range b.subs {
		st.addLag(len(s.ch))
	}
	b.mu.Unlock()
	st.Dropped = b.dropped.Load()
	return st
}

// Health is the bus's health.Check: degraded while reconnecting,
// unhealthy when closed.
func (b *NATS) Health(context.Context) (health.Status, string) {
	switch b.conn.Status() {
	case nats.CONNECTED:
		return health.Healthy, ""
	case nats.RECONNECTING, nats.CONNECTING:
		return health.Degraded, "reconnecting to the NATS server"
	default:
		return health.Unhealthy, "not connected to the NATS server"
	}
}
