package logs_test

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/logs"
	"github.com/neuais/neuais/models"
)

func TestStore_FloodStaysWithinTheQueueBound(t *testing.T) {
	db := apitest.MustOpenDB(t, "sqlite:"+t.TempDir()+"/test.db")
	ctx := context.Background()
	const bound = 1 << 20
	// No write while the flood lasts: the queue alone must hold the line.
	s := mustOpen(t, db, events.NewInProcess(0), func(c *logs.Config) {
		c.FlushInterval = time.Hour
		c.FlushLines = 1 << 20
		c.MaxQueueBytes = bound
		c.MaxLineBytes = 64 << 10
	})
	big := strings.Repeat("x", 64<<10)
	const flood = 1000 // 64 MiB
	for range flood {
		s.Append(line("agt_a", models.LevelInfo, big))
		if q := s.Stats().QueuedBytes; q > bound {
			t.Fatalf("queued %d bytes, bound %d", q, bound)
		}
	}
	st := s.Stats()
	kept := int64(st.Pending)
	if kept == 0 || st.Dropped != flood-kept || st.QueuedBytes != kept*(64<<10+logs.LineOverhead) {
		t.Fatalf("after the flood: %+v", st)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.QueuedBytes != 0 || st.Pending != 0 {
		t.Fatalf("after the write: %+v", st)
	}
	// Room again once written.
	s.Append(line("agt_a", models.LevelInfo, "after"))
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Query(ctx, "agt_a", logs.Filter{Tail: 1}); len(got) != 1 || got[0].Message != "after" {
		t.Fatalf("after the flood: %v", messages(got))
	}
}

func TestStore_LongLinesAreTruncated(t *testing.T) {
	db := apitest.MustOpenDB(t, "sqlite:"+t.TempDir()+"/test.db")
	ctx := context.Background()
	s := mustOpen(t, db, events.NewInProcess(0), func(c *logs.Config) { c.MaxLineBytes = 10 })
	s.Append(line("agt_a", models.LevelInfo, "0123456789"))
	s.Append(line("agt_a", models.LevelInfo, "0123456789abcdef"))
	s.Append(line("agt_a", models.LevelInfo, "012345678é")) // é would straddle the cut
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Query(ctx, "agt_a", logs.Filter{Tail: logs.All})
	want := []string{"0123456789", "0123456789" + logs.TruncatedMarker, "012345678" + logs.TruncatedMarker}
	if !equal(messages(got), want) {
		t.Fatalf("stored %q, want %q", messages(got), want)
	}
	if got[1].Bytes != int64(len(want[1])) {
		t.Fatalf("bytes = %d, want %d", got[1].Bytes, len(want[1]))
	}
}

var dropReport = regexp.MustCompile(`^(\d{1,3}(?:,\d{3})*) lines dropped: log rate limit$`)

func TestStore_RateLimitDropsAndReportsOnce(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		db := apitest.MustOpenDB(t, url)
		ctx := context.Background()
		s := mustOpen(t, db, events.NewInProcess(0), func(c *logs.Config) {
			c.FlushInterval = 10 * time.Millisecond
			c.RateLines = 10
			c.RateBytes = 1 << 20
			c.RateBurst = time.Second
			c.DropReportInterval = time.Second
		})
		const total = 1500
		for i := range total {
			s.Append(line("agt_a", models.LevelInfo, fmt.Sprint(i)))
			if i%100 == 0 { // platform lines are never limited
				s.Append(models.LogLine{AgentID: "agt_a", OrgID: "org_1", Level: models.LevelInfo, Message: "platform"})
			}
		}
		s.Append(line("agt_b", models.LevelInfo, "another agent has its own bucket"))
		var lines []models.LogLine
		deadline := time.Now().Add(waitFor)
		for {
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			var err error
			if lines, err = s.Query(ctx, "agt_a", logs.Filter{Tail: logs.All}); err != nil {
				t.Fatal(err)
			}
			if dropReport.MatchString(lines[len(lines)-1].Message) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no drop report within %s: %q", waitFor, messages(lines[len(lines)-3:]))
			}
			time.Sleep(20 * time.Millisecond) // the report is due a second after the first drop
		}
		var kept, platform, reports int
		var dropped int64
		for _, l := range lines {
			switch m := dropReport.FindStringSubmatch(l.Message); {
			case m != nil:
				reports++
				dropped, _ = strconv.ParseInt(strings.ReplaceAll(m[1], ",", ""), 10, 64)
				if l.Replica != 0 || l.Level != models.LevelWarn {
					t.Errorf("report %+v: want a platform line at warn", l)
				}
			case l.Message == "platform":
				platform++
			default:
				kept++
			}
		}
		if reports != 1 || platform != total/100 || kept < 10 || kept > 20 || int64(kept)+dropped != total {
			t.Fatalf("kept %d of %d lines, %d platform lines, %d reports of %d dropped: %q", kept, total, platform, reports, dropped, messages(lines[len(lines)-3:]))
		}
		if m := dropReport.FindStringSubmatch(lines[len(lines)-1].Message); !strings.Contains(m[1], ",") {
			t.Fatalf("count %q is not grouped", m[1])
		}
		if st := s.Stats(); st.RateLimited != dropped {
			t.Fatalf("stats count %d rate-limited, report %d", st.RateLimited, dropped)
		}
		if b, _ := s.Query(ctx, "agt_b", logs.Filter{Tail: logs.All}); len(b) != 1 {
			t.Fatalf("agt_b = %v", messages(b))
		}
	})
}

func TestStore_RetentionCapsEachOrganizationsBytes(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		db := apitest.MustOpenDB(t, url)
		ctx := context.Background()
		s := mustOpen(t, db, events.NewInProcess(0), func(c *logs.Config) { c.MaxBytesPerOrg = 1000; c.RetentionInterval = time.Hour })
		msg := func(i int) string { return fmt.Sprintf("%-100d", i) } // 100 bytes
		for i := range 10 {
			s.Append(line("agt_a", models.LevelInfo, msg(2*i)))
			s.Append(line("agt_b", models.LevelInfo, msg(2*i+1)))
		}
		other := line("agt_c", models.LevelInfo, msg(0))
		other.OrgID = "org_2"
		for range 5 {
			s.Append(other)
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := s.EnforceRetention(ctx); err != nil {
			t.Fatal(err)
		}
		a, _ := s.Query(ctx, "agt_a", logs.Filter{Tail: logs.All})
		b, _ := s.Query(ctx, "agt_b", logs.Filter{Tail: logs.All})
		c, _ := s.Query(ctx, "agt_c", logs.Filter{Tail: logs.All})
		// The newest 1000 bytes of org_1 are lines 10–19, whichever agent wrote them.
		if want := []string{msg(10), msg(12), msg(14), msg(16), msg(18)}; !equal(messages(a), want) {
			t.Fatalf("agt_a kept %q, want %q", messages(a), want)
		}
		if want := []string{msg(11), msg(13), msg(15), msg(17), msg(19)}; !equal(messages(b), want) {
			t.Fatalf("agt_b kept %q, want %q", messages(b), want)
		}
		if len(c) != 5 {
			t.Fatalf("org_2, under its cap, kept %d of 5 lines", len(c))
		}
	})
}
