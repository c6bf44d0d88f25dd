package events_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/events"
)

func agentEvent(orgID, typ string) events.AgentEvent {
	return events.AgentEvent{Event: typ, Data: events.AgentEventData{AgentID: "agt_1", Name: "one", OrgID: orgID}}
}

// TestOutOfOrderCommits: on PostgreSQL a transaction writes an event and
// stays open while a second one writes another and would commit first. A
// reader resuming by id must see both: the second cannot take its id
// until the first commits, so ids become visible in order and a cursor
// never passes a row that commits later.
func TestOutOfOrderCommits(t *testing.T) {
	db := apitest.MustOpenDB(t, apitest.PostgresURL(t))
	ctx := context.Background()
	bus := events.NewInProcess(0)
	defer bus.Close()
	log := events.NewLog(db, bus, slog.New(slog.NewTextHandler(io.Discard, nil)))
	const org = "org_order"
	f := events.Filter{OrgID: org}

	first, err := db.BeginTx(ctx, &sql.TxOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Rollback() //nolint:errcheck // committed below
	a := []events.AgentEvent{agentEvent(org, events.AgentCreated)}
	if err := events.Insert(ctx, first, a); err != nil {
		t.Fatal(err)
	}
	second := make(chan error, 1)
	var b []events.AgentEvent
	go func() {
		var err error
		b, err = log.Change(ctx, func(_ context.Context, tx *events.Tx) error {
			tx.Record(agentEvent(org, events.AgentStarted))
			return nil
		})
		second <- err
	}()
	apitest.Eventually(t, time.Minute, "the second writer to wait for the id lock", func() bool {
		var waiting int
		err := db.NewSelect().TableExpr("pg_locks").ColumnExpr("count(*)").
			Where("locktype = 'advisory'").Where("objid = ?", 0x6e657673).Where("NOT granted").Scan(ctx, &waiting)
		return err == nil && waiting > 0
	})
	seen, err := log.Read(ctx, f, 100)
	if err != nil || len(seen) != 0 {
		t.Fatalf("before any commit: %v %v", seen, err)
	}
	if err := first.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if b[0].ID <= a[0].ID {
		t.Fatalf("ids %d then %d: the later commit must have the higher id", a[0].ID, b[0].ID)
	}
	// A follower that resumes after each row it reads sees both, in order.
	var ids []int64
	for {
		evs, err := log.Read(ctx, f, 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		ids = append(ids, evs[0].ID)
		f.AfterID = evs[0].ID
	}
	if len(ids) != 2 || ids[0] != a[0].ID || ids[1] != b[0].ID {
		t.Fatalf("read %v, want %d then %d", ids, a[0].ID, b[0].ID)
	}
}

// TestPrune: retention deletes events older than the cutoff only.
func TestPrune(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		db := apitest.MustOpenDB(t, url)
		ctx := context.Background()
		bus := events.NewInProcess(0)
		defer bus.Close()
		log := events.NewLog(db, bus, slog.New(slog.NewTextHandler(io.Discard, nil)))
		old, recent := agentEvent("org_p", events.AgentCreated), agentEvent("org_p", events.AgentDeleted)
		old.Timestamp = time.Now().Add(-31 * 24 * time.Hour).UTC().Truncate(time.Microsecond)
		if err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			return events.Insert(ctx, tx, []events.AgentEvent{old, recent})
		}); err != nil {
			t.Fatal(err)
		}
		n, err := log.Prune(ctx, time.Now().Add(-30*24*time.Hour))
		if err != nil || n != 1 {
			t.Fatalf("pruned %d: %v", n, err)
		}
		left, err := log.Read(ctx, events.Filter{OrgID: "org_p"}, 10)
		if err != nil || len(left) != 1 || left[0].Event != events.AgentDeleted {
			t.Fatalf("left %v %v", left, err)
		}
	})
}
