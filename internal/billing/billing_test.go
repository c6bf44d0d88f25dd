package billing_test

import (
	"context"
	"errors"
	"maps"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/billing"
	"github.com/neuais/neuais/internal/binaries"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/logs"
	"github.com/neuais/neuais/internal/orgs"
	"github.com/neuais/neuais/internal/runtime"
	"github.com/neuais/neuais/models"
	"github.com/uptrace/bun"
	"golang.org/x/crypto/bcrypt"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// source stands for the runtime's snapshot: the replica processes running
// (what a new recorder adopts) and endpoint bytes.
type source struct {
	mu    sync.Mutex
	up    map[string][]string
	bytes map[string]int64
	org   string
}

func (s *source) TakeMetering() []runtime.Metered {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []runtime.Metered
	for agent, ins := range s.up {
		out = append(out, runtime.Metered{AgentID: agent, OrgID: s.org, Instances: ins, NetworkBytes: s.bytes[agent]})
		delete(s.bytes, agent)
	}
	return out
}

func (s *source) ReturnMetering(t []runtime.Metered) {}

func (s *source) set(agent string, instances ...string) {
	s.mu.Lock()
	s.up[agent] = instances
	s.mu.Unlock()
}

func TestSamplePrice(t *testing.T) {
	m := billing.Measure{ReplicaSeconds: 1000 * 3600, MonthSeconds: 31 * 86400, NetworkBytes: 100 * billing.GB,
		ByteSeconds: new(big.Int).Mul(big.NewInt(500*billing.GB), big.NewInt(31*86400))}
	c := billing.DefaultPrices.Cost(m)
	if c.Compute.String() != "50.00" || c.Storage.String() != "10.00" || c.Network.String() != "5.00" || c.Total.String() != "65.00" {
		t.Fatalf("cost %+v", c)
	}
	f := m.Figures()
	if f.ComputeHours.String() != "1000" || f.StorageGB.String() != "500" || f.NetworkGB.String() != "100" {
		t.Fatalf("figures %s %s %s", f.ComputeHours, f.StorageGB, f.NetworkGB)
	}
}

func TestParsePrices(t *testing.T) {
	p, err := billing.ParsePrices(billing.DefaultPrices, "compute=0.1, network=0.000001")
	if err != nil || p.ComputeHour != 100_000 || p.NetworkGB != 1 || p.StorageGB != 20_000 {
		t.Fatalf("%+v %v", p, err)
	}
	for _, bad := range []string{"compute=-1", "compute=0.0000001", "cpu=1", "compute"} {
		if _, err := billing.ParsePrices(billing.DefaultPrices, bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParsePeriod(t *testing.T) {
	now := time.Date(2026, 3, 15, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]string{"": "2026-03", "current": "2026-03", "last_month": "2026-02", "2025-12": "2025-12"} {
		got, err := billing.ParsePeriod(in, now)
		if err != nil || got.Format("2006-01") != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"2026-04", "2026-13", "2026-3", "march", "2026-03-01"} {
		_, err := billing.ParsePeriod(bad, now)
		var e *models.Error
		if !errors.As(err, &e) || e.Code != models.CodeInvalidRequest || e.Field != "period" {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

type harness struct {
	db    *bun.DB
	ctx   context.Context
	clock *clock
	src   *source
	svc   *billing.Service
	bins  *binaries.Service
	org   string
	admin context.Context
	open  func() *billing.Recorder
}

func newHarness(t *testing.T, databaseURL string) *harness {
	db := apitest.MustOpenDB(t, databaseURL)
	org, admin, err := orgs.NewService(db, auth.NewHasher(bcrypt.MinCost)).Create(context.Background(), orgs.CreateParams{Name: "acme", AdminEmail: "a@example.com", AdminPassword: "password-123"})
	if err != nil {
		t.Fatal(err)
	}
	// The organization exists from the test clock's first month on.
	if _, err := db.NewUpdate().Table("organizations").Set("created_at = ?", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)).Where("id = ?", org.ID).Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := &harness{db: db, ctx: context.Background(), clock: &clock{now: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)},
		src: &source{up: map[string][]string{}, bytes: map[string]int64{}, org: org.ID}, org: org.ID}
	h.svc = billing.NewService(db, billing.DefaultPrices, h.clock)
	h.admin = models.WithIdentity(h.ctx, &models.Identity{UserID: admin.ID, OrgID: org.ID, Role: models.RoleAdmin})
	if h.bins, err = binaries.New(db, t.TempDir(), 1<<20); err != nil {
		t.Fatal(err)
	}
	stored := billing.StoredIn(db, h.bins.StoredBytes)
	h.open = func() *billing.Recorder { return billing.NewRecorder(db, h.src, stored, h.clock, nil) }
	return h
}

// report queues a replica process's start or end at the clock's time, as
// the runtime's meter does.
func (h *harness) report(r *billing.Recorder, up bool, agent string, instances ...string) {
	for _, in := range instances {
		r.Transition(runtime.Transition{AgentID: agent, OrgID: h.org, Instance: in, Up: up, At: h.clock.Now()})
	}
}

type intervalRow struct {
	Instance  string     `bun:"instance"`
	StartedAt time.Time  `bun:"started_at"`
	EndedAt   *time.Time `bun:"ended_at"`
}

// intervals returns agent's recorded intervals, oldest first.
func (h *harness) intervals(t *testing.T, agent string) []intervalRow {
	t.Helper()
	var rows []intervalRow
	if err := h.db.NewSelect().Table("replica_intervals").Column("instance", "started_at", "ended_at").
		Where("agent_id = ?", agent).Order("id").Scan(h.ctx, &rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

func (h *harness) hours(t *testing.T) map[string]string {
	t.Helper()
	got := map[string]string{}
	for _, a := range h.usage(t).Agents {
		got[a.AgentID] = a.ComputeHours.String()
	}
	return got
}

func (h *harness) usage(t *testing.T) *models.Usage {
	t.Helper()
	u, err := h.svc.Usage(h.admin, "current")
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func sync1(t *testing.T, r *billing.Recorder) {
	t.Helper()
	if err := r.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func flush(t *testing.T, r *billing.Recorder) {
	t.Helper()
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestThreeReplicas90Minutes: 3 replicas for 90 minutes bill 4.5 hours,
// 0.23, though they start and stop between heartbeats.
func TestThreeReplicas90Minutes(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, databaseURL string) {
		h := newHarness(t, databaseURL)
		r := h.open()
		sync1(t, r)
		h.clock.advance(3 * time.Second)
		h.report(r, true, "agt_1", "1/100/1", "2/101/1", "3/102/1")
		flush(t, r)
		for range 9 {
			h.clock.advance(10 * time.Minute)
			sync1(t, r)
		}
		h.report(r, false, "agt_1", "1/100/1", "2/101/1", "3/102/1")
		h.clock.advance(4 * time.Second)
		sync1(t, r)
		h.clock.advance(time.Hour)
		sync1(t, r)
		u := h.usage(t)
		if u.Usage.ComputeHours.String() != "4.5" || u.Cost.Compute.String() != "0.23" || u.Cost.Total.String() != "0.23" {
			t.Fatalf("usage %+v cost %+v", u.Usage, u.Cost)
		}
		if len(u.Agents) != 1 || u.Agents[0].AgentID != "agt_1" || u.Agents[0].Compute.String() != "0.23" {
			t.Fatalf("agents %+v", u.Agents)
		}
	})
}

// TestShortReplica: a replica up for less than a heartbeat is billed its
// seconds, from its start to its end.
func TestShortReplica(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, databaseURL string) {
		h := newHarness(t, databaseURL)
		r := h.open()
		sync1(t, r)
		h.clock.advance(time.Second)
		start := h.clock.Now()
		h.report(r, true, "agt_1", "1/100/1")
		h.clock.advance(3 * time.Second)
		end := h.clock.Now()
		h.report(r, false, "agt_1", "1/100/1")
		h.clock.advance(time.Second)
		sync1(t, r) // the next heartbeat
		ivs := h.intervals(t, "agt_1")
		if len(ivs) != 1 || !ivs[0].StartedAt.Equal(start) || ivs[0].EndedAt == nil || !ivs[0].EndedAt.Equal(end) {
			t.Fatalf("intervals %+v, want %s to %s", ivs, start, end)
		}
		if got := h.usage(t).Usage.ComputeHours.String(); got != "0.000833" { // 3 s
			t.Fatalf("compute hours %s", got)
		}
	})
}

// TestTransitionRetried: a transition whose write failed stays queued and
// is written by the next attempt, with its own time.
func TestTransitionRetried(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, databaseURL string) {
		h := newHarness(t, databaseURL)
		r := h.open()
		sync1(t, r)
		start := h.clock.Now()
		h.report(r, true, "agt_1", "1/100/1")
		failed, cancel := context.WithCancel(h.ctx)
		cancel()
		if err := r.Flush(failed); err == nil {
			t.Fatal("flush with a cancelled context succeeded")
		}
		if ivs := h.intervals(t, "agt_1"); len(ivs) != 0 {
			t.Fatalf("intervals %+v after a failed write", ivs)
		}
		h.clock.advance(time.Minute)
		sync1(t, r)
		if ivs := h.intervals(t, "agt_1"); len(ivs) != 1 || !ivs[0].StartedAt.Equal(start) || ivs[0].EndedAt != nil {
			t.Fatalf("intervals %+v, want one open from %s", ivs, start)
		}
	})
}

// TestCrashRestart: a replica's process crashing and its restart close
// one interval and open another at the real times, with no gap beyond the
// real downtime and no overlap; the sum is exact below the second.
func TestCrashRestart(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, databaseURL string) {
		h := newHarness(t, databaseURL)
		r := h.open()
		sync1(t, r)
		h.clock.advance(250 * time.Millisecond)
		upA := h.clock.Now()
		h.report(r, true, "agt_1", "1/100/1")
		flush(t, r)
		h.clock.advance(10 * time.Minute)
		sync1(t, r)
		h.clock.advance(20*time.Minute + 500*time.Millisecond)
		crash := h.clock.Now() // 30 min 0.5 s up
		h.report(r, false, "agt_1", "1/100/1")
		h.clock.advance(250 * time.Millisecond) // the restart's backoff
		upB := h.clock.Now()
		h.report(r, true, "agt_1", "1/200/2")
		h.clock.advance(4 * time.Second)
		sync1(t, r)
		h.clock.advance(29*time.Minute + 55*time.Second + 500*time.Millisecond)
		downB := h.clock.Now() // 29 min 59.5 s up
		h.report(r, false, "agt_1", "1/200/2")
		flush(t, r)
		h.clock.advance(time.Minute)
		sync1(t, r)
		ivs := h.intervals(t, "agt_1")
		if len(ivs) != 2 || ivs[0].Instance != "1/100/1" || !ivs[0].StartedAt.Equal(upA) || ivs[0].EndedAt == nil || !ivs[0].EndedAt.Equal(crash) ||
			ivs[1].Instance != "1/200/2" || !ivs[1].StartedAt.Equal(upB) || ivs[1].EndedAt == nil || !ivs[1].EndedAt.Equal(downB) {
			t.Fatalf("intervals %+v", ivs)
		}
		if got := h.usage(t).Usage.ComputeHours.String(); got != "1" {
			t.Fatalf("compute hours %s, want 1", got)
		}
	})
}

// TestServerCrash: a server killed mid-interval leaves it open; the next
// server's recorder closes it at the last heartbeat before any of its own
// transitions is written, an adopted replica continues, and a further
// restart counts nothing twice.
func TestServerCrash(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, databaseURL string) {
		h := newHarness(t, databaseURL)
		r := h.open()
		sync1(t, r)
		h.report(r, true, "agt_1", "1/100/1")
		h.report(r, true, "agt_2", "1/300/1")
		h.src.set("agt_2", "1/300/1")
		flush(t, r)
		h.clock.advance(20 * time.Minute)
		sync1(t, r) // the last heartbeat before the SIGKILL
		h.clock.advance(17 * time.Minute)
		h.report(r, false, "agt_1", "1/100/1") // queued, never written: the server dies
		h.clock.advance(23 * time.Minute)

		next := h.open()
		h.report(next, true, "agt_1", "1/400/2") // restarted by the next server
		flush(t, next)                           // waits for the first heartbeat
		if ivs := h.intervals(t, "agt_1"); len(ivs) != 1 || ivs[0].EndedAt != nil {
			t.Fatalf("intervals before the first heartbeat %+v", ivs)
		}
		sync1(t, next)
		h.clock.advance(60 * time.Minute)
		h.report(next, false, "agt_1", "1/400/2")
		h.report(next, false, "agt_2", "1/300/1")
		h.src.set("agt_2")
		sync1(t, next)
		// agt_1: 20 min to the last heartbeat, then 60 min of the new
		// process; agt_2 adopted: 120 min.
		want := map[string]string{"agt_1": "1.333333", "agt_2": "2"}
		if got := h.hours(t); !maps.Equal(got, want) {
			t.Fatalf("hours %v, want %v", got, want)
		}
		h.clock.advance(time.Hour)
		sync1(t, h.open())
		if got := h.hours(t); !maps.Equal(got, want) {
			t.Fatalf("hours after another restart %v, want %v", got, want)
		}
	})
}

// TestStorageAccrues: uploaded binaries and written log messages accrue
// byte-seconds for the time they are stored, by the clock.
func TestStorageAccrues(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, databaseURL string) {
		h := newHarness(t, databaseURL)
		r := h.open()
		sync1(t, r)
		script := "#!/bin/sh\n" + strings.Repeat("#", 989) + "\n" // 1000 bytes
		bin, err := h.bins.Upload(h.admin, strings.NewReader(script), int64(len(script)), "")
		if err != nil || bin.Size != 1000 {
			t.Fatalf("upload: %+v %v", bin, err)
		}
		h.clock.advance(time.Hour)
		sync1(t, r) // stored nothing in the hour before: 0
		store, err := logs.Open(h.ctx, h.db, events.NewInProcess(0), config.Default().Logs(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 {
			store.Append(models.LogLine{AgentID: "agt_1", OrgID: h.org, Message: strings.Repeat("y", 250)})
		}
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
		h.clock.advance(2 * time.Hour)
		sync1(t, r) // 1000 bytes for 2 h
		h.clock.advance(30 * time.Minute)
		if _, err := h.bins.Delete(h.admin, bin.ID); err != nil {
			t.Fatal(err)
		}
		sync1(t, r) // 1500 bytes for 30 min
		h.clock.advance(time.Hour)
		sync1(t, r) // 500 bytes of logs for 1 h
		var got string
		if err := h.db.NewSelect().Table("storage_usage").Column("byte_seconds").Where("org_id = ?", h.org).Where("period = ?", "2026-03").Scan(h.ctx, &got); err != nil {
			t.Fatal(err)
		}
		if want := strconv.Itoa(1000*7200 + 1500*1800 + 500*3600); got != want {
			t.Fatalf("byte_seconds %s, want %s", got, want)
		}
	})
}

func TestNetworkAndRoles(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, databaseURL string) {
		h := newHarness(t, databaseURL)
		r := h.open()
		h.src.set("agt_1", "1/100")
		h.src.bytes["agt_1"] = 3 * billing.GB / 2
		sync1(t, r)
		h.src.bytes["agt_1"] = billing.GB / 2
		sync1(t, r)
		if u := h.usage(t); u.Usage.NetworkGB.String() != "2" || u.Cost.Network.String() != "0.10" {
			t.Fatalf("network %s %s", u.Usage.NetworkGB, u.Cost.Network)
		}
		for _, role := range []models.Role{models.RoleDeveloper, models.RoleViewer} {
			ctx := models.WithIdentity(h.ctx, &models.Identity{UserID: "usr_x", OrgID: h.org, Role: role})
			if _, err := h.svc.Usage(ctx, ""); !errors.Is(err, models.ErrForbidden) {
				t.Errorf("%s: %v", role, err)
			}
		}
		other := models.WithIdentity(h.ctx, &models.Identity{UserID: "usr_y", OrgID: "org_other", Role: models.RoleAdmin})
		if u, err := h.svc.Usage(other, ""); err != nil || u.Usage.NetworkGB != 0 || len(u.Agents) != 0 {
			t.Fatalf("other org sees %+v %v", u, err)
		}
	})
}

func (h *harness) invoices(t *testing.T) []*models.Invoice {
	t.Helper()
	page, err := h.svc.Invoices(h.admin, models.ListParams{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return page.Items
}

func TestMonthClose(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, databaseURL string) {
		h := newHarness(t, databaseURL)
		r := h.open()
		sync1(t, r)
		h.report(r, true, "agt_1", "1/100/1", "2/101/1", "3/102/1")
		h.clock.advance(90 * time.Minute)
		h.report(r, false, "agt_1", "1/100/1", "2/101/1", "3/102/1")
		sync1(t, r)
		if n, err := h.svc.CloseMonths(h.ctx); err != nil || n != 0 {
			t.Fatalf("close within the month: %d %v", n, err)
		}
		h.clock.now = time.Date(2026, 4, 1, 0, 5, 0, 0, time.UTC)
		if n, err := h.svc.CloseMonths(h.ctx); err != nil || n != 1 {
			t.Fatalf("close: %d %v", n, err)
		}
		if n, err := h.svc.CloseMonths(h.ctx); err != nil || n != 0 {
			t.Fatalf("close again: %d %v", n, err)
		}
		invs := h.invoices(t)
		if len(invs) != 1 {
			t.Fatalf("invoices %+v", invs)
		}
		inv := invs[0]
		if inv.Period != "2026-03" || inv.Amount.String() != "0.23" || inv.DueDate != "2026-04-01" || inv.Status != models.InvoiceOpen || inv.ComputeMicro.String() != "4.5" {
			t.Fatalf("invoice %+v", inv)
		}
		if got, err := h.svc.Invoice(h.admin, inv.ID); err != nil || got.ID != inv.ID {
			t.Fatalf("get: %v", err)
		}
		other := models.WithIdentity(h.ctx, &models.Identity{UserID: "usr_y", OrgID: "org_other", Role: models.RoleAdmin})
		var e *models.Error
		if _, err := h.svc.Invoice(other, inv.ID); !errors.As(err, &e) || e.Code != models.CodeNotFound {
			t.Fatalf("other org: %v", err)
		}

		// Two instances close April at once: one invoice.
		h.clock.now = time.Date(2026, 5, 1, 0, 5, 0, 0, time.UTC)
		second := billing.NewService(h.db, billing.DefaultPrices, h.clock)
		var wg sync.WaitGroup
		counts := make([]int, 2)
		for i, svc := range []*billing.Service{h.svc, second} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := svc.CloseMonths(h.ctx)
				if err != nil {
					t.Error(err)
				}
				counts[i] = n
			}()
		}
		wg.Wait()
		if counts[0]+counts[1] != 1 || len(h.invoices(t)) != 2 {
			t.Fatalf("concurrent close created %v", counts)
		}

		// Down from May to mid-August: May, June and July are caught up.
		h.clock.now = time.Date(2026, 8, 15, 0, 0, 0, 0, time.UTC)
		if n, err := billing.NewService(h.db, billing.DefaultPrices, h.clock).CloseMonths(h.ctx); err != nil || n != 3 {
			t.Fatalf("catch up: %d %v", n, err)
		}
		invs = h.invoices(t)
		if len(invs) != 5 || invs[0].Period != "2026-07" || invs[4].Period != "2026-03" {
			t.Fatalf("periods %v", invs)
		}

		log := events.NewLog(h.db, events.NewInProcess(events.DefaultBuffer), nil)
		all, err := log.List(h.ctx, events.Filter{OrgID: h.org, Admin: true}, models.ListParams{Limit: 100})
		if err != nil || all.Total != 5 || all.Items[0].Event != events.InvoiceCreated || all.Items[0].Data.InvoiceID != invs[0].ID {
			t.Fatalf("admin events %+v %v", all, err)
		}
		agentOnly, err := log.List(h.ctx, events.Filter{OrgID: h.org}, models.ListParams{Limit: 100})
		if err != nil || agentOnly.Total != 0 {
			t.Fatalf("non-admin events %+v %v", agentOnly, err)
		}

		paid, err := h.svc.SetStatus(h.ctx, inv.ID, models.InvoicePaid)
		if err != nil || paid.Status != models.InvoicePaid {
			t.Fatalf("mark paid: %+v %v", paid, err)
		}
		if _, err := h.svc.SetStatus(h.ctx, inv.ID, models.InvoiceVoid); !errors.As(err, &e) || e.Code != models.CodeConflict {
			t.Fatalf("void a paid invoice: %v", err)
		}
	})
}
