package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect"

	"github.com/neuais/neuais/internal/db"
	"github.com/neuais/neuais/models"
)

// idLockKey identifies the event writers among PostgreSQL advisory locks.
const idLockKey = 0x6e657673 // "nevs"

// Log is the durable event log: every agent event is written in the
// transaction of the change that causes it, with an id from the database
// that only grows, and published on the bus once committed. The bus is
// only a wake-up: consumers that must not miss anything read the log from
// their cursor (Query, Follow).
type Log struct {
	db  *bun.DB
	bus Bus
	log *slog.Logger
}

// NewLog returns the event log over db, publishing on bus.
func NewLog(db *bun.DB, bus Bus, logger *slog.Logger) *Log {
	return &Log{db: db, bus: bus, log: logger}
}

// Tx is a change in progress: the events recorded with Record are written
// in it, at its end.
type Tx struct {
	bun.Tx
	events []AgentEvent
}

// Record adds ev to the events the change writes; its Timestamp, when
// zero, is the time of writing.
func (t *Tx) Record(ev AgentEvent) { t.events = append(t.events, ev) }

// Change runs fn in one transaction and writes the events fn recorded in
// it, so that an event exists exactly when its change does. Once the
// transaction commits they are published on the bus (a failed publish is
// logged: the log holds them, and followers poll it too). It returns the
// events written, with their ids. An error of fn rolls everything back.
func (l *Log) Change(ctx context.Context, fn func(ctx context.Context, tx *Tx) error) ([]AgentEvent, error) {
	var written []AgentEvent
	err := l.db.RunInTx(ctx, nil, func(ctx context.Context, btx bun.Tx) error {
		tx := &Tx{Tx: btx}
		if err := fn(ctx, tx); err != nil {
			return err
		}
		if err := Insert(ctx, btx, tx.events); err != nil {
			return err
		}
		written = tx.events
		return nil
	})
	if err != nil {
		return nil, err
	}
	l.Publish(ctx, written...)
	return written, nil
}

// Insert writes evs in tx and sets their IDs. On PostgreSQL it first takes
// a transaction-scoped advisory lock, held until commit: sequence values
// taken by concurrent transactions could otherwise commit out of order, and
// a reader resuming after a higher id would skip a lower one committed
// later. (SQLite has one writer at a time anyway.) Callers write their
// events last, so the lock is held briefly; they publish after commit.
func Insert(ctx context.Context, tx bun.Tx, evs []AgentEvent) error {
	if len(evs) == 0 {
		return nil
	}
	if tx.Dialect().Name() == dialect.PG {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock(?)", idLockKey); err != nil {
			return fmt.Errorf("events: lock ids: %w", err)
		}
	}
	now := models.Now()
	for i := range evs {
		ev := &evs[i]
		if ev.Timestamp.IsZero() {
			ev.Timestamp = now
		}
		data, err := json.Marshal(ev.Data)
		if err != nil {
			return fmt.Errorf("events: encode: %w", err)
		}
		row := &models.Event{OrgID: ev.Data.OrgID, AgentID: ev.Data.AgentID, Type: ev.Event, Data: string(data), CreatedAt: ev.Timestamp}
		if _, err := tx.NewInsert().Model(row).Returning("id").Exec(ctx); err != nil {
			return fmt.Errorf("events: insert: %w", err)
		}
		ev.ID = row.ID
	}
	return nil
}

// Publish announces committed events on their organizations' topics, and
// once on EventLogTopic.
func (l *Log) Publish(ctx context.Context, evs ...AgentEvent) {
	if len(evs) == 0 {
		return
	}
	if err := l.bus.Publish(context.WithoutCancel(ctx), Message{Topic: EventLogTopic, Type: "written", Time: evs[0].Timestamp}); err != nil && !errors.Is(err, ErrClosed) {
		l.log.WarnContext(ctx, "events: publish wake-up", "err", err)
	}
	for _, ev := range evs {
		err := l.bus.Publish(context.WithoutCancel(ctx), Message{
			Topic: AgentEventsTopic(ev.Data.OrgID), Type: ev.Event, Time: ev.Timestamp, Payload: ev,
		})
		if err != nil && !errors.Is(err, ErrClosed) {
			l.log.WarnContext(ctx, "events: publish", "event", ev.Event, "id", ev.ID, "err", err)
		}
	}
}

// Filter selects events of one organization; empty fields do not filter.
type Filter struct {
	OrgID   string
	Type    string
	AgentID string
	// AfterID keeps events with a greater id.
	AfterID int64
	// Admin also selects the events only admins see (invoice.created);
	// otherwise only the six agent events are selected.
	Admin bool
}

// ValidType reports whether t is one of the six event types.
func ValidType(t string) bool { return slices.Contains(AgentEventTypes, t) }

// Page is one page of events with the total that matched.
type Page struct {
	Items   []*AgentEvent
	Total   int
	Limit   int
	Offset  int
	HasMore bool
}

var sortColumns = map[string]string{"id": "id", "created_at": "id", "createdAt": "id", "timestamp": "id"}

// List returns a page of events f selects, newest first unless p sorts
// them otherwise. Errors: invalid_request on limit, offset, sort.
func (l *Log) List(ctx context.Context, f Filter, p models.ListParams) (*Page, error) {
	order, err := p.Validate(sortColumns, models.SortOrder{Column: "id", Desc: true})
	if err != nil {
		return nil, err
	}
	var rows []models.Event
	n, err := db.ScanAndCount(ctx, l.db, l.query(&rows, f).OrderExpr(order.OrderExpr()), p.Limit, p.Offset)
	if err != nil {
		return nil, fmt.Errorf("events: list: %w", err)
	}
	items, err := decodeAll(rows)
	if err != nil {
		return nil, err
	}
	return &Page{Items: items, Total: int(n), Limit: p.Limit, Offset: p.Offset, HasMore: p.Offset+len(items) < int(n)}, nil
}

// Read returns at most limit events f selects, oldest first.
func (l *Log) Read(ctx context.Context, f Filter, limit int) ([]*AgentEvent, error) {
	var rows []models.Event
	if err := l.query(&rows, f).OrderExpr("id ASC").Limit(int64(limit)).Scan(ctx); err != nil {
		return nil, fmt.Errorf("events: read: %w", err)
	}
	return decodeAll(rows)
}

// LastID returns the id of the newest event, 0 when there is none.
func (l *Log) LastID(ctx context.Context) (int64, error) {
	var id int64
	if err := l.db.NewSelect().Model((*models.Event)(nil)).ColumnExpr("COALESCE(MAX(id), 0)").Scan(ctx, &id); err != nil {
		return 0, fmt.Errorf("events: last id: %w", err)
	}
	return id, nil
}

func (l *Log) query(rows *[]models.Event, f Filter) *bun.SelectQuery {
	q := l.db.NewSelect().Model(rows)
	if f.OrgID != "" {
		q = q.Where("org_id = ?", f.OrgID)
	}
	if f.Type != "" {
		q = q.Where("type = ?", f.Type)
	}
	if f.AgentID != "" {
		q = q.Where("agent_id = ?", f.AgentID)
	}
	if f.AfterID > 0 {
		q = q.Where("id > ?", f.AfterID)
	}
	if !f.Admin {
		q = q.Where("type IN (?)", bun.List(AgentEventTypes))
	}
	return q
}

func decodeAll(rows []models.Event) ([]*AgentEvent, error) {
	out := make([]*AgentEvent, len(rows))
	for i, r := range rows {
		ev, err := Decode(r)
		if err != nil {
			return nil, err
		}
		out[i] = ev
	}
	return out, nil
}

// Decode turns a row of the log back into its event.
func Decode(r models.Event) (*AgentEvent, error) {
	ev := &AgentEvent{ID: r.ID, Event: r.Type, Timestamp: r.CreatedAt.UTC()}
	if err := json.Unmarshal([]byte(r.Data), &ev.Data); err != nil {
		return nil, fmt.Errorf("events: decode %d: %w", r.ID, err)
	}
	ev.Data.OrgID = r.OrgID
	return ev, nil
}

// followBatch is how many events a follower reads at once.
const followBatch = 500

// followPoll is how often a follower reads the log without a wake-up, for
// events another instance wrote on a bus that lost the message.
const followPoll = 2 * time.Second

// Follow streams the events f selects with ids after f.AfterID, oldest
// first, each exactly once, reading the log whenever the bus announces an
// event of f.OrgID (and every few seconds), so that nothing is missed
// even when the bus drops a message. With f.AgentID set it ends after
// that agent's agent.deleted. It ends when ctx ends or the bus closes.
func (l *Log) Follow(ctx context.Context, f Filter) (*Stream[*AgentEvent], error) {
	sub, err := l.bus.Subscribe(ctx, AgentEventsTopic(f.OrgID), AsWakeUp())
	if err != nil {
		return nil, fmt.Errorf("events: follow: %w", err)
	}
	return Produce(ctx, func(send func(*AgentEvent) bool) error {
		defer func() { sub.Close() }()
		poll := time.NewTicker(followPoll)
		defer poll.Stop()
		for {
			for {
				evs, err := l.Read(ctx, f, followBatch)
				if err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
				for _, ev := range evs {
					if !send(ev) {
						return nil
					}
					f.AfterID = ev.ID
					if f.AgentID != "" && ev.Event == AgentDeleted {
						return nil
					}
				}
				if len(evs) < followBatch {
					break
				}
			}
			select {
			case <-ctx.Done():
				return nil
			case <-poll.C:
			case _, ok := <-sub.C:
				if !ok {
					if !errors.Is(sub.Err(), ErrSlowSubscriber) {
						return sub.Err()
					}
					// Only a wake-up was lost: the log has everything.
					if sub, err = l.bus.Subscribe(ctx, AgentEventsTopic(f.OrgID), AsWakeUp()); err != nil {
						return err
					}
				}
			drain:
				for {
					select {
					case _, ok := <-sub.C:
						if !ok {
							break drain
						}
					default:
						break drain
					}
				}
			}
		}
	}), nil
}

// Prune deletes the events written before cutoff (retention) and returns
// how many it deleted.
func (l *Log) Prune(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := l.db.NewDelete().Model((*models.Event)(nil)).Where("created_at < ?", cutoff.UTC()).Exec(ctx)
	if err != nil {
		return 0, fmt.Errorf("events: prune: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// RunRetention deletes events older than maxAge every interval until ctx
// ends.
func (l *Log) RunRetention(ctx context.Context, maxAge, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := l.Prune(ctx, time.Now().Add(-maxAge)); err != nil && ctx.Err() == nil {
			l.log.Error("events: retention", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ParseID reads an event id given as field (after, Last-Event-ID); ""
// is 0, the start of the log. Errors: invalid_request on field.
func ParseID(field, id string) (int64, error) {
	if id == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n < 0 {
		return 0, models.Invalid(field, "must be an event id")
	}
	return n, nil
}
