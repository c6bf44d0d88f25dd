package logs_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/internal/logs"
	"github.com/neuais/neuais/models"
)

const waitFor = 10 * time.Second

// mustOpen opens a store; unless cfg sets a rate, one far above what the
// tests append, since they write faster than any agent may.
// testLogsConfig is the server's default log configuration, changed by edit.
func testLogsConfig(edit func(*logs.Config)) logs.Config {
	c := config.Default().Logs()
	edit(&c)
	return c
}

// mustOpen opens a store of the server's default configuration without
// rate limits (the tests of those set their own), changed by edit.
func mustOpen(t *testing.T, db *bun.DB, bus events.Bus, edit func(*logs.Config)) *logs.Store {
	t.Helper()
	cfg := config.Default().Logs()
	cfg.RateLines, cfg.RateBytes = 1e9, 1e12
	if edit != nil {
		edit(&cfg)
	}
	s, err := logs.Open(context.Background(), db, bus, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func line(agentID, level, msg string) models.LogLine {
	return models.LogLine{AgentID: agentID, OrgID: "org_1", Replica: 1, Level: level, Message: msg}
}

func messages(lines []models.LogLine) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Message
	}
	return out
}

func equal(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func TestStore_AppendQuery(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		db := apitest.MustOpenDB(t, url)
		ctx := context.Background()
		// A long interval: lines stay queued until Flush.
		s := mustOpen(t, db, events.NewInProcess(0), func(c *logs.Config) { c.FlushInterval = time.Hour })
		levels := []string{models.LevelDebug, models.LevelInfo, models.LevelWarn, models.LevelError}
		for i := range 8 {
			s.Append(line("agt_a", levels[i%4], fmt.Sprintf("a%d", i)))
			s.Append(line("agt_b", models.LevelInfo, fmt.Sprintf("b%d", i)))
		}
		// Queued lines have no ID yet: they are not shown before they are written.
		if queued, err := s.Query(ctx, "agt_a", logs.Filter{Tail: logs.All}); err != nil || len(queued) != 0 {
			t.Fatalf("before the write: %v, %v", messages(queued), err)
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if p := s.Stats().Pending; p != 0 {
			t.Fatalf("pending after flush = %d", p)
		}
		all, err := s.Query(ctx, "agt_a", logs.Filter{Tail: logs.All})
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"a0", "a1", "a2", "a3", "a4", "a5", "a6", "a7"}; !equal(messages(all), want) {
			t.Fatalf("all = %v, want %v", messages(all), want)
		}
		for i := 1; i < len(all); i++ {
			if all[i].ID <= all[i-1].ID || all[i].Timestamp.IsZero() || all[i].OrgID != "org_1" {
				t.Fatalf("line %d = %+v: IDs must increase, timestamps be set", i, all[i])
			}
		}
		tail, _ := s.Query(ctx, "agt_a", logs.Filter{Tail: 3})
		if want := []string{"a5", "a6", "a7"}; !equal(messages(tail), want) {
			t.Fatalf("tail 3 = %v, want %v", messages(tail), want)
		}
		warn, _ := s.Query(ctx, "agt_a", logs.Filter{Tail: 3, Level: models.LevelWarn})
		if want := []string{"a3", "a6", "a7"}; !equal(messages(warn), want) {
			t.Fatalf("warn tail 3 = %v, want %v", messages(warn), want)
		}
		after, _ := s.Query(ctx, "agt_a", logs.Filter{Tail: logs.All, AfterID: all[5].ID})
		if want := []string{"a6", "a7"}; !equal(messages(after), want) {
			t.Fatalf("after a5 = %v, want %v", messages(after), want)
		}
		future, _ := s.Query(ctx, "agt_a", logs.Filter{Tail: logs.All, Since: time.Now().Add(time.Hour)})
		if len(future) != 0 {
			t.Fatalf("since the future = %v", messages(future))
		}
		past, _ := s.Query(ctx, "agt_a", logs.Filter{Tail: logs.All, Since: time.Now().Add(-time.Hour)})
		if len(past) != 8 {
			t.Fatalf("since an hour ago = %d lines, want 8", len(past))
		}
		none, _ := s.Query(ctx, "agt_a", logs.Filter{})
		if len(none) != 0 {
			t.Fatalf("tail 0 = %v", messages(none))
		}
	})
}

func TestStore_CloseWritesEverythingAndIDsContinue(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		db := apitest.MustOpenDB(t, url)
		ctx := context.Background()
		bus := events.NewInProcess(0)
		s, err := logs.Open(ctx, db, bus, testLogsConfig(func(c *logs.Config) { c.FlushInterval = time.Hour; c.FlushLines = 7 }), nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 100 {
			s.Append(line("agt_a", models.LevelInfo, fmt.Sprint(i)))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		var n int64
		n, err = db.NewSelect().Model((*models.LogLine)(nil)).Count(ctx)
		if err != nil || n != 100 {
			t.Fatalf("stored %d lines (err %v), want 100", n, err)
		}

		s2 := mustOpen(t, db, bus, nil)
		s2.Append(line("agt_a", models.LevelInfo, "after restart"))
		if err := s2.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		all, err := s2.Query(ctx, "agt_a", logs.Filter{Tail: 2})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 2 || all[1].Message != "after restart" || all[1].ID != all[0].ID+1 {
			t.Fatalf("after reopen = %+v: IDs must continue from the stored maximum", all)
		}
	})
}

func TestStore_FollowBacklogThenLiveWithoutGaps(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		db := apitest.MustOpenDB(t, url)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		s := mustOpen(t, db, events.NewInProcess(0), func(c *logs.Config) { c.FlushInterval = 5 * time.Millisecond; c.FlushLines = 10 })
		const total = 2000
		for i := range 500 {
			s.Append(line("agt_a", models.LevelInfo, fmt.Sprint(i)))
		}
		var wg sync.WaitGroup
		// Writers keep appending (and the flusher keeps writing) while
		// followers start, so backlog and live overlap in every way.
		wg.Go(func() {
			for i := 500; i < total; i++ {
				s.Append(line("agt_a", models.LevelInfo, fmt.Sprint(i)))
			}
		})
		var resumeFrom int64
		for f := range 10 {
			wg.Go(func() {
				filter := logs.Filter{Tail: logs.All}
				st, err := s.Follow(ctx, "org_1", "agt_a", filter)
				if err != nil {
					t.Error(err)
					return
				}
				want := 0
				for l := range st.C {
					if l.Message != fmt.Sprint(want) {
						t.Errorf("follower %d: got %q, want %d", f, l.Message, want)
						return
					}
					if want == 1234 && f == 0 {
						resumeFrom = l.ID
					}
					if want++; want == total {
						return
					}
				}
				t.Errorf("follower %d ended after %d lines: %v", f, want, st.Err())
			})
		}
		wg.Wait()

		// A reconnect with Last-Event-ID of line 1234 gets 1235… exactly once.
		st, err := s.Follow(ctx, "org_1", "agt_a", logs.Filter{Tail: logs.All, AfterID: resumeFrom})
		if err != nil {
			t.Fatal(err)
		}
		s.Append(line("agt_a", models.LevelInfo, fmt.Sprint(total)))
		for want := 1235; want <= total; want++ {
			select {
			case l := <-st.C:
				if l.Message != fmt.Sprint(want) {
					t.Fatalf("resumed: got %q, want %d", l.Message, want)
				}
			case <-time.After(waitFor):
				t.Fatalf("resumed: line %d not delivered", want)
			}
		}
	})
}

func TestStore_FollowLevelAndEnd(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		db := apitest.MustOpenDB(t, url)
		ctx := context.Background()
		s := mustOpen(t, db, events.NewInProcess(0), nil)
		s.Append(line("agt_a", models.LevelError, "old error"))
		s.Append(line("agt_a", models.LevelInfo, "old info"))
		st, err := s.Follow(ctx, "org_1", "agt_a", logs.Filter{Tail: 10, Level: models.LevelWarn})
		if err != nil {
			t.Fatal(err)
		}
		s.Append(line("agt_a", models.LevelDebug, "new debug"))
		s.Append(line("agt_b", models.LevelError, "other agent"))
		s.Append(line("agt_a", models.LevelWarn, "new warn"))
		var got []string
		for l := range st.C {
			got = append(got, l.Message)
			if len(got) == 2 {
				if err := s.DeleteAgent(ctx, "agt_a"); err != nil {
					t.Fatal(err)
				}
			}
		}
		if want := []string{"old error", "new warn"}; !equal(got, want) {
			t.Fatalf("followed %v, want %v", got, want)
		}
		if !errors.Is(st.Err(), events.ErrAgentDeleted) {
			t.Fatalf("Err = %v, want ErrAgentDeleted", st.Err())
		}
		s.Append(line("agt_a", models.LevelInfo, "late line of the deleted agent"))
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		left, _ := s.Query(ctx, "agt_a", logs.Filter{Tail: logs.All})
		if len(left) != 0 {
			t.Fatalf("deleted agent still has lines %v", messages(left))
		}
		other, _ := s.Query(ctx, "agt_b", logs.Filter{Tail: logs.All})
		if len(other) != 1 {
			t.Fatalf("other agent lost its lines: %v", messages(other))
		}
	})
}

func TestStore_FollowEndsWithContextAndBus(t *testing.T) {
	db := apitest.MustOpenDB(t, "sqlite:"+filepath.Join(t.TempDir(), "test.db"))
	bus := events.NewInProcess(0)
	s := mustOpen(t, db, bus, nil)
	ctx, cancel := context.WithCancel(context.Background())
	byCtx, _ := s.Follow(ctx, "org_1", "agt_a", logs.Filter{})
	byBus, _ := s.Follow(context.Background(), "org_1", "agt_a", logs.Filter{})
	cancel()
	for range byCtx.C {
	}
	if byCtx.Err() != nil {
		t.Fatalf("ctx end: Err = %v", byCtx.Err())
	}
	bus.Close()
	for range byBus.C {
	}
	if !errors.Is(byBus.Err(), events.ErrClosed) {
		t.Fatalf("bus close: Err = %v", byBus.Err())
	}
}

func TestStore_Retention(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		db := apitest.MustOpenDB(t, url)
		ctx := context.Background()
		s := mustOpen(t, db, events.NewInProcess(0), func(c *logs.Config) { c.MaxLinesPerAgent = 5; c.MaxAge = time.Hour; c.RetentionInterval = time.Hour })
		old := line("agt_b", models.LevelInfo, "old")
		old.Timestamp = time.Now().Add(-2 * time.Hour)
		s.Append(old)
		s.Append(line("agt_b", models.LevelInfo, "recent"))
		for i := range 12 {
			s.Append(line("agt_a", models.LevelInfo, fmt.Sprint(i)))
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.EnforceRetention(ctx); err != nil {
			t.Fatal(err)
		}
		a, _ := s.Query(ctx, "agt_a", logs.Filter{Tail: logs.All})
		if want := []string{"7", "8", "9", "10", "11"}; !equal(messages(a), want) {
			t.Fatalf("agt_a kept %v, want %v", messages(a), want)
		}
		b, _ := s.Query(ctx, "agt_b", logs.Filter{Tail: logs.All})
		if want := []string{"recent"}; !equal(messages(b), want) {
			t.Fatalf("agt_b kept %v, want %v", messages(b), want)
		}
	})
}

func TestStore_HealthAndWriteFailure(t *testing.T) {
	db := apitest.MustOpenDB(t, "sqlite:"+filepath.Join(t.TempDir(), "test.db"))
	ctx := context.Background()
	s := mustOpen(t, db, events.NewInProcess(0), func(c *logs.Config) { c.FlushInterval = time.Hour })
	if status, detail := s.Health(ctx); status != health.Healthy {
		t.Fatalf("health = %s %s", status, detail)
	}
	if _, err := db.ExecContext(ctx, "ALTER TABLE agent_logs RENAME TO agent_logs_away"); err != nil {
		t.Fatal(err)
	}
	s.Append(line("agt_a", models.LevelInfo, "kept in memory"))
	if err := s.Flush(ctx); err == nil {
		t.Fatal("flush into a missing table succeeded")
	}
	if status, _ := s.Health(ctx); status != health.Degraded {
		t.Fatalf("health while writes fail = %s, want degraded", status)
	}
	if _, err := db.ExecContext(ctx, "ALTER TABLE agent_logs_away RENAME TO agent_logs"); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("flush after recovery: %v", err)
	}
	got, _ := s.Query(ctx, "agt_a", logs.Filter{Tail: logs.All})
	if len(got) != 1 {
		t.Fatalf("line lost across a failed write: %v", messages(got))
	}
	if status, detail := s.Health(ctx); status != health.Healthy {
		t.Fatalf("health after recovery = %s %s", status, detail)
	}
	s.Close()
	if status, _ := s.Health(ctx); status != health.Unhealthy {
		t.Fatalf("health after close = %s", status)
	}
}

func TestParse(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"", time.Time{}, true},
		{"1h", now.Add(-time.Hour), true},
		{"30m", now.Add(-30 * time.Minute), true},
		{"7d", now.Add(-7 * 24 * time.Hour), true},
		{"-1h", time.Time{}, false},
		{"soon", time.Time{}, false},
	} {
		got, err := logs.ParseSince("since", tc.in, now)
		if (err == nil) != tc.ok || !got.Equal(tc.want) {
			t.Errorf("ParseSince(%q) = %v, %v", tc.in, got, err)
		}
		if err != nil {
			var e *models.Error
			if !errors.As(err, &e) || e.Field != "since" {
				t.Errorf("ParseSince(%q) error %v does not name the field", tc.in, err)
			}
		}
	}
	if _, err := logs.ParseLevel("level", "verbose"); models.ErrorCode(err) != models.CodeInvalidRequest {
		t.Errorf("ParseLevel(verbose) = %v", err)
	}
	if _, err := logs.ParseTail("tail", logs.MaxTail+1); models.ErrorCode(err) != models.CodeInvalidRequest {
		t.Errorf("ParseTail(max+1) = %v", err)
	}
	if _, err := logs.ParseEventID("Last-Event-ID", "x"); models.ErrorCode(err) != models.CodeInvalidRequest {
		t.Errorf("ParseEventID(x) = %v", err)
	}
}

func TestStore_FollowEndsOnAgentDeletedEvent(t *testing.T) {
	db := apitest.MustOpenDB(t, "sqlite:"+filepath.Join(t.TempDir(), "test.db"))
	bus := events.NewInProcess(0)
	s := mustOpen(t, db, bus, nil)
	ctx := context.Background()
	st, err := s.Follow(ctx, "org_1", "agt_a", logs.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	other := events.AgentEvent{Event: events.AgentDeleted, Data: events.AgentEventData{AgentID: "agt_b", OrgID: "org_1"}}
	if err := bus.Publish(ctx, events.Message{Topic: events.AgentEventsTopic("org_1"), Type: events.AgentDeleted, Payload: other}); err != nil {
		t.Fatal(err)
	}
	s.Append(line("agt_a", models.LevelInfo, "still here"))
	if l := <-st.C; l.Message != "still here" {
		t.Fatalf("got %q", l.Message)
	}
	mine := events.AgentEvent{Event: events.AgentDeleted, Data: events.AgentEventData{AgentID: "agt_a", OrgID: "org_1"}}
	if err := bus.Publish(ctx, events.Message{Topic: events.AgentEventsTopic("org_1"), Type: events.AgentDeleted, Payload: mine}); err != nil {
		t.Fatal(err)
	}
	for range st.C {
	}
	if !errors.Is(st.Err(), events.ErrAgentDeleted) {
		t.Fatalf("Err = %v, want ErrAgentDeleted", st.Err())
	}
}

func TestStore_PurgeDeleted(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		db := apitest.MustOpenDB(t, url)
		ctx := context.Background()
		s := mustOpen(t, db, events.NewInProcess(0), func(c *logs.Config) { c.PurgeDeleted = true; c.RetentionInterval = time.Hour })
		s.Append(line("agt_gone", models.LevelInfo, "of an agent not in the agents table"))
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.EnforceRetention(ctx); err != nil {
			t.Fatal(err)
		}
		if left, _ := s.Query(ctx, "agt_gone", logs.Filter{Tail: logs.All}); len(left) != 0 {
			t.Fatalf("lines of a deleted agent kept: %v", messages(left))
		}
	})
}
