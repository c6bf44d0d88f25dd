package logs_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/logs"
	"github.com/neuais/neuais/models"
)

// next returns the stream's next line, failing after waitFor.
func next(t *testing.T, st *logs.Stream) *models.LogLine {
	t.Helper()
	select {
	case l, ok := <-st.C:
		if !ok {
			t.Fatalf("stream ended: %v", st.Err())
		}
		return l
	case <-time.After(waitFor):
		t.Fatal("no line within", waitFor)
	}
	return nil
}

func TestStore_IDsSurviveACrash(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		db := apitest.MustOpenDB(t, url)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		bus := events.NewInProcess(0)
		s1, err := logs.Open(ctx, db, bus, testLogsConfig(func(c *logs.Config) { c.FlushInterval = time.Hour; c.RateLines = 1e9; c.RateBytes = 1e12 }), nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			s1.Append(line("agt_a", models.LevelInfo, fmt.Sprintf("a%d", i)))
		}
		for i := range 3 {
			s1.Append(line("agt_b", models.LevelInfo, fmt.Sprintf("b%d", i)))
		}
		if err := s1.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		live, err := s1.Follow(ctx, "org_1", "agt_a", logs.Filter{Tail: logs.All})
		if err != nil {
			t.Fatal(err)
		}
		var seen int64
		for i := range 10 {
			if l := next(t, live); l.Message != fmt.Sprintf("a%d", i) {
				t.Fatalf("backlog line %d = %q", i, l.Message)
			} else {
				seen = l.ID
			}
		}
		b, err := s1.Query(ctx, "agt_b", logs.Filter{Tail: logs.All})
		if err != nil || len(b) != 3 {
			t.Fatalf("agt_b = %v, %v", messages(b), err)
		}
		highest := b[2].ID
		// The newest lines go: an id must still never come back.
		if err := s1.DeleteAgent(ctx, "agt_b"); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			s1.Append(line("agt_a", models.LevelInfo, fmt.Sprintf("lost%d", i)))
		}
		s1.Crash()

		s2 := mustOpen(t, db, bus, func(c *logs.Config) { c.FlushInterval = time.Hour })
		for i := range 5 {
			s2.Append(line("agt_a", models.LevelInfo, fmt.Sprintf("after%d", i)))
		}
		if err := s2.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		// The follower that lived through the crash, and one resuming with
		// the last id it saw, get exactly the lines after it.
		resumed, err := s2.Follow(ctx, "org_1", "agt_a", logs.Filter{Tail: logs.All, AfterID: seen})
		if err != nil {
			t.Fatal(err)
		}
		for name, st := range map[string]*logs.Stream{"live": live, "resumed": resumed} {
			prev := seen
			for i := range 5 {
				l := next(t, st)
				if want := fmt.Sprintf("after%d", i); l.Message != want {
					t.Fatalf("%s follower: got %q (id %d), want %q", name, l.Message, l.ID, want)
				}
				if l.ID <= prev || l.ID <= highest {
					t.Fatalf("%s follower: %q has id %d, after %d and at or below the highest id ever given, %d", name, l.Message, l.ID, prev, highest)
				}
				prev = l.ID
			}
		}
		s2.Append(line("agt_a", models.LevelInfo, "last"))
		if err := s2.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for _, st := range []*logs.Stream{live, resumed} {
			if l := next(t, st); l.Message != "last" {
				t.Fatalf("after the resumed lines: got %q, want last", l.Message)
			}
		}
	})
}

func TestStore_FollowersSeeOnlyCommittedLines(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		db := apitest.MustOpenDB(t, url)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s := mustOpen(t, db, events.NewInProcess(0), func(c *logs.Config) { c.FlushInterval = 20 * time.Millisecond; c.FlushLines = 50 })
		st, err := s.Follow(ctx, "org_1", "agt_a", logs.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		const total = 300
		var wg sync.WaitGroup
		wg.Go(func() {
			for i := range total {
				s.Append(line("agt_a", models.LevelInfo, fmt.Sprint(i)))
			}
		})
		defer wg.Wait()
		for i := range total {
			l := next(t, st)
			n, err := db.NewSelect().Model((*models.LogLine)(nil)).Where("id = ? AND message = ?", l.ID, l.Message).Count(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Fatalf("line %d (%q) reached a follower with id %d before it was committed", i, l.Message, l.ID)
			}
		}
	})
}
