package app_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
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
			if len(names) < 4 || names[0] != "api" || names[1] != "auth" || names[2] != "billing" || names[3] != "database" {
				t.Fatalf("names %v", names)
			}
		})
		t.Run("ListIsAPage", func(t *testing.T) {
			res := s.Do("GET", "/v1/services?limit=1&offset=1", s.AdminToken, nil)
			body := res.JSON(t)
			items, _ := body["services"].([]any)
			if res.Status != 200 || len(items) != 1 || items[0].(map[string]any)["name"] != "auth" || body["limit"] != float64(1) ||
				body["offset"] != float64(1) || body["has_more"] != true || body["total"].(float64) < 3 {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			res = s.Do("GET", "/v1/services?sort=name:desc&fields=name", s.AdminToken, nil)
			body = res.JSON(t)
			items, _ = body["services"].([]any)
			if res.Status != 200 || len(items) < 3 || body["has_more"] != false || body["total"] != float64(len(items)) {
				t.Fatalf("%d %s", res.Status, res.Body)
			}
			if first := items[0].(map[string]any); len(first) != 1 || first["name"] == "api" || items[len(items)-1].(map[string]any)["name"] != "api" {
				t.Fatalf("sort and fields: %s", res.Body)
			}
			for _, q := range []string{"limit=0", "offset=-1", "sort=status", "fields=detail"} {
				if res := s.Do("GET", "/v1/services?"+q, s.AdminToken, nil); res.Status != 400 || res.ErrorField() != q[:strings.Index(q, "=")] {
					t.Errorf("%s: %d %s", q, res.Status, res.Body)
				}
			}
			gql := s.GraphQL(s.AdminToken, `{ services(limit: 2) { items { name } total limit offset hasMore } }`, nil)
			var data struct {
				Services struct {
					Items   []struct{ Name string }
					Total   int
					Limit   int
					HasMore bool
				}
			}
			if err := json.Unmarshal(gql.Data, &data); err != nil || len(data.Services.Items) != 2 || data.Services.Items[0].Name != "api" ||
				data.Services.Limit != 2 || !data.Services.HasMore || data.Services.Total < 3 {
				t.Fatalf("GraphQL: %s %+v", gql.Data, gql.Errors)
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
