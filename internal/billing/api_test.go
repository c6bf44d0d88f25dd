package billing_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/internal/config"
	"github.com/neuais/neuais/models"
)

// TestAPIAccess: every billing route is the admin's alone, another
// organization's invoice is not_found, bad periods name period.
func TestAPIAccess(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, databaseURL string) {
		s := apitest.Start(t, databaseURL)
		admin := s.Admin()
		dev := s.CreateUser(s.AdminToken, "dev@example.com", models.RoleDeveloper)
		viewer := s.CreateUser(s.AdminToken, "viewer@example.com", models.RoleViewer)
		other := s.CreateOrg("other", "other@example.com", models.TierFree)

		// A closed month of the other organization.
		if _, err := s.App.DB.NewUpdate().Table("organizations").Set("created_at = ?", time.Now().UTC().AddDate(0, -2, 0)).Where("id = ?", other.OrgID).Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		// The start's close already passed those months: forget it.
		if _, err := s.App.DB.NewDelete().Table("billing_state").Where("1 = 1").Exec(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := s.App.Billing.CloseMonths(context.Background()); err != nil {
			t.Fatal(err)
		}
		invs, err := s.App.Billing.AllInvoices(context.Background(), other.OrgID)
		if err != nil || len(invs) == 0 {
			t.Fatalf("other's invoices %v %v", invs, err)
		}
		otherInv := invs[0]

		routes := []string{"/v1/billing/usage", "/v1/billing/usage?period=last_month", "/v1/billing/invoices", "/v1/billing/invoices/" + otherInv.ID}
		for _, path := range routes {
			for _, u := range []*apitest.User{dev, viewer} {
				if res := s.Do(http.MethodGet, path, u.Token, nil); res.Status != http.StatusForbidden || res.ErrorCode() != models.CodeForbidden {
					t.Errorf("%s as %s: %d %s", path, u.Role, res.Status, res.Body)
				}
			}
			if res := s.Do(http.MethodGet, path, "", nil); res.Status != http.StatusUnauthorized {
				t.Errorf("%s anonymous: %d", path, res.Status)
			}
		}
		if res := s.Do(http.MethodGet, "/v1/billing/invoices/"+otherInv.ID, admin.Token, nil); res.Status != http.StatusNotFound || res.ErrorCode() != models.CodeNotFound {
			t.Errorf("other's invoice: %d %s", res.Status, res.Body)
		}
		res := s.Do(http.MethodGet, "/v1/billing/invoices/"+otherInv.ID, other.Token, nil)
		var inv struct {
			ID      string
			DueDate string `json:"due_date"`
			Lines   []map[string]any
		}
		if res.Status != http.StatusOK || json.Unmarshal(res.Body, &inv) != nil || inv.ID != otherInv.ID || inv.DueDate != otherInv.DueDate || len(inv.Lines) != 3 {
			t.Errorf("own invoice: %d %s", res.Status, res.Body)
		}
		if res := s.Do(http.MethodGet, "/v1/billing/invoices", other.Token, nil); res.Status != http.StatusOK || res.JSON(t)["total"] != float64(len(invs)) {
			t.Errorf("own invoices: %d %s", res.Status, res.Body)
		}
		if res := s.Do(http.MethodGet, "/v1/billing/invoices", admin.Token, nil); res.Status != http.StatusOK || res.JSON(t)["total"] != float64(0) {
			t.Errorf("bootstrap org sees: %s", res.Body)
		}

		// invoice.created is in the event log for admins only.
		if res := s.Do(http.MethodGet, "/v1/events?type=invoice.created", other.Token, nil); res.Status != http.StatusOK || res.JSON(t)["total"] != float64(len(invs)) {
			t.Errorf("admin's invoice events: %d %s", res.Status, res.Body)
		}
		otherDev := s.CreateUser(other.Token, "otherdev@example.com", models.RoleDeveloper)
		if res := s.Do(http.MethodGet, "/v1/events", otherDev.Token, nil); res.Status != http.StatusOK || res.JSON(t)["total"] != float64(0) {
			t.Errorf("developer's events: %d %s", res.Status, res.Body)
		}
		if res := s.Do(http.MethodGet, "/v1/events?type=invoice.created", otherDev.Token, nil); res.Status != http.StatusBadRequest || res.ErrorField() != "type" {
			t.Errorf("developer's invoice events: %d %s", res.Status, res.Body)
		}

		res = s.Do(http.MethodGet, "/v1/billing/usage", admin.Token, nil)
		body := res.JSON(t)
		if res.Status != http.StatusOK || body["period"] != time.Now().UTC().Format("2006-01") || len(body) != 3 {
			t.Errorf("usage: %d %s", res.Status, res.Body)
		}
		if res := s.Do(http.MethodGet, "/v1/billing/usage?breakdown=agent", admin.Token, nil); res.Status != http.StatusOK || res.JSON(t)["agents"] == nil {
			t.Errorf("usage by agent: %d %s", res.Status, res.Body)
		}
		if res := s.Do(http.MethodGet, "/v1/billing/usage?breakdown=region", admin.Token, nil); res.Status != http.StatusBadRequest || res.ErrorField() != "breakdown" {
			t.Errorf("breakdown=region: %d %s", res.Status, res.Body)
		}
		for _, bad := range []string{"2024-13", "yesterday", "2024-1", "3000-01", "last-month"} {
			if res := s.Do(http.MethodGet, "/v1/billing/usage?period="+bad, admin.Token, nil); res.Status != http.StatusBadRequest || res.ErrorField() != "period" {
				t.Errorf("period %s: %d %s", bad, res.Status, res.Body)
			}
		}
		gql := s.GraphQL(dev.Token, `{ usage { period } }`, nil)
		if gql.Code() != models.CodeForbidden {
			t.Errorf("graphql as developer: %+v", gql.Errors)
		}
		gql = s.GraphQL(admin.Token, `{ usage(period: "current") { period cost { total } agents { agentId } } }`, nil)
		if len(gql.Errors) != 0 {
			t.Errorf("graphql usage: %+v", gql.Errors)
		}
	})
}

// TestSetTier: an organization's existing token sees its new limit on the
// very next request.
func TestSetTier(t *testing.T) {
	s := apitest.Start(t, "", func(c *config.Config) { c.RateLimitMin = 1 })
	other := s.CreateOrg("tiered", "tiered@example.com", models.TierFree)
	limit := func() string {
		return s.Do(http.MethodGet, "/v1/agents", other.Token, nil).Header.Get("X-RateLimit-Limit")
	}
	if got := limit(); got != "100" {
		t.Fatalf("free: %s", got)
	}
	if _, err := s.App.Orgs.SetTier(context.Background(), "tiered", models.TierPro, 0); err != nil {
		t.Fatal(err)
	}
	if got := limit(); got != "1000" {
		t.Fatalf("pro: %s", got)
	}
	if _, err := s.App.Orgs.SetTier(context.Background(), other.OrgID, models.TierEnterprise, 25000); err != nil {
		t.Fatal(err)
	}
	if got := limit(); got != strconv.Itoa(25000) {
		t.Fatalf("enterprise: %s", got)
	}
	if res := s.Do(http.MethodGet, "/v1/agents", s.AdminToken, nil); res.Header.Get("X-RateLimit-Limit") != "10000" {
		t.Fatalf("bootstrap organization: %s", res.Header.Get("X-RateLimit-Limit"))
	}
}
