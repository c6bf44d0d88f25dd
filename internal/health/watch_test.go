package health_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/models"
)

func TestWatch(t *testing.T) {
	r := health.NewRegistry("test")
	var status atomic.Value
	status.Store(health.Healthy)
	r.Register(health.Component{Name: "db", Check: func(context.Context) (health.Status, string) {
		s := status.Load().(health.Status)
		if s == health.Healthy {
			return s, ""
		}
		return s, "slow"
	}})
	r.Register(health.Component{Name: "api", Check: func(context.Context) (health.Status, string) { return health.Healthy, "" }})
	t.Run("ErrUnauthorized", func(t *testing.T) {
		if _, err := r.Watch(context.Background(), time.Millisecond); models.ErrorCode(err) != models.CodeUnauthorized {
			t.Fatalf("err %v, want unauthorized", err)
		}
	})
	t.Run("AllThenChangesOnly", func(t *testing.T) {
		ctx, cancel := context.WithCancel(models.WithIdentity(context.Background(), &models.Identity{UserID: "usr_1", OrgID: "org_1", Role: models.RoleViewer}))
		c, err := r.Watch(ctx, 5*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		if first := <-c; len(first) != 2 {
			t.Fatalf("first message has %d reports, want 2", len(first))
		}
		status.Store(health.Degraded)
		changed := <-c
		if len(changed) != 1 || changed[0].Name != "db" || changed[0].Status != health.Degraded || changed[0].Detail != "slow" {
			t.Fatalf("change %+v, want only db degraded", changed)
		}
		cancel()
		for range c {
		}
	})
}
