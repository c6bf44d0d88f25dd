package agents_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/agents"
	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/auth"
	"github.com/neuais/neuais/internal/events"
	"github.com/neuais/neuais/internal/orgs"
	"github.com/neuais/neuais/models"
)

type recorder struct {
	mu  sync.Mutex
	ids []string
}

func (r *recorder) Reconcile(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, id)
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

// TestEventsAndReconciler checks that every change publishes its event in
// the webhook payload shape, tells the reconciler, and bumps Generation
// and Version as the runtime expects.
func TestEventsAndReconciler(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		db := apitest.MustOpenDB(t, url)
		bus := events.NewInProcess(0)
		defer bus.Close()
		rec := &recorder{}
		svc := agents.NewService(db, bus, agents.Config{Regions: []string{"local"}, MaxReplicas: 10, Secrets: keyring(t)}, rec, nil)
		org, admin, err := orgs.NewService(db, auth.NewHasher(4)).Create(context.Background(), orgs.CreateParams{Name: "acme", AdminEmail: "a@acme.io", AdminPassword: "password-123"})
		if err != nil {
			t.Fatal(err)
		}
		ctx := models.WithIdentity(context.Background(), &models.Identity{UserID: admin.ID, OrgID: org.ID, Role: models.RoleDeveloper})
		sub, err := bus.Subscribe(ctx, events.AgentEventsTopic(org.ID))
		if err != nil {
			t.Fatal(err)
		}
		next := func(want string) events.AgentEvent {
			t.Helper()
			select {
			case m := <-sub.C:
				ev := m.Payload.(events.AgentEvent)
				if m.Type != want || ev.Event != want || ev.Timestamp.IsZero() || ev.Data.Name != "evented" {
					t.Fatalf("got %+v, want %s", m, want)
				}
				return ev
			case <-time.After(5 * time.Second):
				t.Fatalf("no %s event", want)
			}
			return events.AgentEvent{}
		}

		a, err := svc.Create(ctx, agents.CreateInput{Name: "evented", Runtime: "go", BinaryURL: "https://example.com/a"}, "")
		if err != nil {
			t.Fatal(err)
		}
		if ev := next(events.AgentCreated); ev.Data.AgentID != a.ID || ev.Data.Status != "deploying" {
			t.Fatalf("%+v", ev)
		}
		if a.Desired != models.DesiredRunning || a.Generation != 1 || a.Version != 1 {
			t.Fatalf("new agent %+v", a)
		}
		replicas := 3
		steps := []struct {
			name       string
			do         func() (*models.Agent, error)
			event      string
			generation int64
			desired    models.DesiredState
			reconciles int
		}{
			{"Update", func() (*models.Agent, error) {
				return svc.Update(ctx, a.ID, agents.UpdateInput{Config: &agents.ConfigInput{Replicas: &replicas}}, "")
			}, events.AgentUpdated, 2, models.DesiredRunning, 2},
			{"StartWhileDeployingChangesNothing", func() (*models.Agent, error) { return svc.Start(ctx, a.ID) }, "", 2, models.DesiredRunning, 2},
			{"Stop", func() (*models.Agent, error) { return svc.Stop(ctx, a.ID) }, events.AgentUpdated, 3, models.DesiredStopped, 3},
			{"StopAgainChangesNothing", func() (*models.Agent, error) { return svc.Stop(ctx, a.ID) }, "", 3, models.DesiredStopped, 3},
			{"Start", func() (*models.Agent, error) { return svc.Start(ctx, a.ID) }, events.AgentUpdated, 4, models.DesiredRunning, 4},
			{"Restart", func() (*models.Agent, error) { return svc.Restart(ctx, a.ID) }, events.AgentUpdated, 5, models.DesiredRunning, 5},
			{"Scale", func() (*models.Agent, error) { return svc.Scale(ctx, a.ID, 5) }, events.AgentUpdated, 6, models.DesiredRunning, 6},
			{"Delete", func() (*models.Agent, error) { return svc.Delete(ctx, a.ID, "") }, events.AgentDeleted, 6, models.DesiredRunning, 7},
		}
		version := int64(1)
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				got, err := step.do()
				if err != nil {
					t.Fatal(err)
				}
				if step.event != "" {
					next(step.event)
					if step.event != events.AgentDeleted {
						version++
					}
				}
				if got.Generation != step.generation || got.Desired != step.desired || got.Version != version {
					t.Fatalf("generation %d desired %s version %d, want %d %s %d", got.Generation, got.Desired, got.Version, step.generation, step.desired, version)
				}
				if rec.count() != step.reconciles {
					t.Fatalf("reconciled %d times, want %d", rec.count(), step.reconciles)
				}
			})
		}
		if slices.ContainsFunc(rec.ids, func(id string) bool { return id != a.ID }) {
			t.Fatalf("reconciled %v", rec.ids)
		}
	})
}

func TestNilReconciler(t *testing.T) {
	db := apitest.MustOpenDB(t, "sqlite:"+t.TempDir()+"/t.db")
	svc := agents.NewService(db, events.NewInProcess(0), agents.Config{Secrets: keyring(t)}, nil, nil)
	org, _, err := orgs.NewService(db, auth.NewHasher(4)).Create(context.Background(), orgs.CreateParams{Name: "acme", AdminEmail: "a@acme.io", AdminPassword: "password-123"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := models.WithIdentity(context.Background(), &models.Identity{OrgID: org.ID, Role: models.RoleAdmin})
	if _, err := svc.Create(ctx, agents.CreateInput{Name: "a", Runtime: "go", BinaryURL: "https://example.com/a"}, ""); err != nil {
		t.Fatal(err)
	}
}

func TestShutdownEndsWaits(t *testing.T) {
	db := apitest.MustOpenDB(t, "sqlite:"+t.TempDir()+"/t.db")
	svc := agents.NewService(db, events.NewInProcess(0), agents.Config{MaxWait: time.Minute, Secrets: keyring(t)}, nil, nil)
	org, _, err := orgs.NewService(db, auth.NewHasher(4)).Create(context.Background(), orgs.CreateParams{Name: "acme", AdminEmail: "a@acme.io", AdminPassword: "password-123"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := models.WithIdentity(context.Background(), &models.Identity{OrgID: org.ID, Role: models.RoleAdmin})
	a, err := svc.Create(ctx, agents.CreateInput{Name: "a", Runtime: "go", BinaryURL: "https://example.com/a"}, "")
	if err != nil {
		t.Fatal(err)
	}
	svc.Shutdown()
	svc.Shutdown()
	if _, err := svc.Wait(ctx, a.ID, "running", "1m"); models.ErrorCode(err) != models.CodeServiceUnavailable {
		t.Fatalf("got %v", err)
	}
}
