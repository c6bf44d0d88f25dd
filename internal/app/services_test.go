package app_test

import (
	"context"
	"encoding/json"
	"regexp"
	"testing"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/app"
	"github.com/neuais/neuais/internal/health"
	"github.com/neuais/neuais/models"
)

func TestServices(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, url string) {
		s := apitest.Start(t, url)
		uptime := regexp.MustCompile(`^\d+d \d+h \d+m$`)
		t.Run("List", func(t *testing.T) {
			res := s.Do("GET", "/v1/services", s.AdminToken, nil)
			var body struct {
				Services []map[string]string `json:"services"`
			}
			if err := json.Unmarshal(res.Body, &body); err != nil || res.Status != 200 {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			var names []string
			for _, svc := range body.Services {
				names = append(names, svc["name"])
				if svc["status"] != "healthy" || svc["version"] != app.Version || !uptime.MatchString(svc["uptime"]) || len(svc) != 4 {
					t.Errorf("%v", svc)
				}
			}
			if len(names) < 3 || names[0] != "api" || names[1] != "auth" || names[2] != "database" {
				t.Fatalf("names %v", names)
			}
		})
		t.Run("Status", func(t *testing.T) {
			res := s.Do("GET", "/v1/services/auth/status", s.AdminToken, nil)
			if body := res.JSON(t); res.Status != 200 || body["name"] != "auth" || body["status"] != "healthy" {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("ErrUnknownService", func(t *testing.T) {
			if res := s.Do("GET", "/v1/services/nope/status", s.AdminToken, nil); res.Status != 404 || res.ErrorCode() != "not_found" {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
		})
		t.Run("DatabaseDownIsUnhealthy", func(t *testing.T) {
			// Authentication needs the database too, so the check is asked directly.
			other := apitest.Start(t, url)
			other.App.DB.Close()
			ctx := models.WithIdentity(context.Background(), &models.Identity{UserID: "usr_x", OrgID: "org_x", Role: models.RoleViewer})
			rep, err := other.App.Health.CheckOne(ctx, "database")
			if err != nil || rep.Status != health.Unhealthy || rep.Detail != "database unreachable" {
				t.Fatalf("%+v %v", rep, err)
			}
		})
	})
}
