package health_test

import (
	"context"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/models"
)

func TestUptime(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0d 0h 0m"},
		{59 * time.Second, "0d 0h 0m"},
		{90 * time.Minute, "0d 1h 30m"},
		{5*24*time.Hour + 12*time.Hour + 30*time.Minute + 10*time.Second, "5d 12h 30m"},
	} {
		if got := (health.Report{Started: start, At: start.Add(tc.d)}).Uptime(); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.d, got, tc.want)
		}
	}
}

func TestCheck(t *testing.T) {
	r := health.NewRegistry("test")
	r.Register(health.Component{Name: "ok", Check: func(context.Context) (health.Status, string) { return health.Healthy, "" }})
	r.Register(health.Component{Name: "slow", Check: func(ctx context.Context) (health.Status, string) {
		<-ctx.Done()
		return health.Healthy, ""
	}})
	ctx := models.WithIdentity(context.Background(), &models.Identity{UserID: "usr_1", OrgID: "org_1", Role: models.RoleViewer})
	t.Run("OK", func(t *testing.T) {
		rep, err := r.CheckOne(ctx, "ok")
		if err != nil || rep.Status != health.Healthy {
			t.Fatalf("%+v %v", rep, err)
		}
	})
	t.Run("TimeoutIsUnhealthy", func(t *testing.T) {
		page, err := r.List(ctx, models.ListParams{Limit: 10})
		if err != nil || len(page.Items) != 2 || page.Items[1].Name != "slow" || page.Items[1].Status != health.Unhealthy {
			t.Fatalf("%+v %v", page, err)
		}
	})
	t.Run("ErrNotFound", func(t *testing.T) {
		if _, err := r.CheckOne(ctx, "nope"); models.ErrorCode(err) != models.CodeNotFound {
			t.Fatalf("%v", err)
		}
	})
	t.Run("ErrUnauthorized", func(t *testing.T) {
		if _, err := r.List(context.Background(), models.ListParams{Limit: 10}); models.ErrorCode(err) != models.CodeUnauthorized {
			t.Fatalf("%v", err)
		}
	})
}
