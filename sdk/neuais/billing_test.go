package neuais_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/models"
	"github.com/neuais/neuais/sdk/neuais"
)

// billedBytes is the network a billed agent carried last month: 123.4 GB,
// whose price (6.17 at 0.05 per GB) no binary float holds exactly.
const billedBytes = 123_400_000_000

// TestBilling reads usage and invoices of two months the month close
// invoiced, on each database.
func TestBilling(t *testing.T) {
	apitest.EachDB(t, func(t *testing.T, databaseURL string) {
		s := apitest.Start(t, databaseURL)
		client := connect(t, s)
		billing := client.Billing()
		agent, err := client.Agents().Create(neuais.CreateAgentRequest{Name: "billed", Runtime: "native", BinaryURL: "https://example.com/billed"})
		if err != nil {
			t.Fatal(err)
		}
		invs, err := apitest.CloseMonths(context.Background(), s.App, s.Admin().OrgID, agent.ID, 2, billedBytes)
		if err != nil {
			t.Fatal(err)
		}
		last := invs[0]

		t.Run("UsageCurrent", func(t *testing.T) {
			u, err := billing.Usage()
			if err != nil || u.Period != time.Now().UTC().Format("2006-01") || u.Agents != nil {
				t.Fatalf("Usage = %+v, %v", u, err)
			}
			if c := u.Cost; c.Total != c.Compute+c.Storage+c.Network {
				t.Fatalf("cost %+v does not add up", c)
			}
		})
		t.Run("UsageOfAMonth", func(t *testing.T) {
			u, err := billing.Usage(&neuais.UsageOptions{Period: last.Period})
			if err != nil || u.Period != last.Period || u.Usage.NetworkGB != float64(billedBytes)/1e9 || u.Agents != nil {
				t.Fatalf("Usage(%s) = %+v, %v", last.Period, u, err)
			}
			if u.Cost.Network == 0 || int64(u.Cost.Total) != int64(last.Amount) || u.Cost.Total != u.Cost.Compute+u.Cost.Storage+u.Cost.Network {
				t.Fatalf("cost %+v, invoice amount %s", u.Cost, last.Amount)
			}
			if lm, err := billing.Usage(&neuais.UsageOptions{Period: "last_month"}); err != nil || lm.Period != u.Period || lm.Cost != u.Cost {
				t.Fatalf("Usage(last_month) = %+v, %v", lm, err)
			}
		})
		t.Run("ByAgent", func(t *testing.T) {
			u, err := billing.Usage(&neuais.UsageOptions{Period: last.Period, ByAgent: true})
			if err != nil || len(u.Agents) != 1 {
				t.Fatalf("Usage(by agent) = %+v, %v", u, err)
			}
			if a := u.Agents[0]; a.AgentID != agent.ID || a.NetworkGB != u.Usage.NetworkGB || a.NetworkCost != u.Cost.Network || a.ComputeCost != u.Cost.Compute {
				t.Fatalf("agent's share %+v of %+v", a, u)
			}
			if cur, err := billing.Usage(&neuais.UsageOptions{ByAgent: true}); err != nil || cur.Agents == nil {
				t.Fatalf("Usage(current, by agent) = %+v, %v", cur, err)
			}
		})
		t.Run("BadPeriod", func(t *testing.T) {
			for _, bad := range []string{"2024-13", "yesterday", "3000-01"} {
				_, err := billing.Usage(&neuais.UsageOptions{Period: bad})
				if e := apiError(t, err); e.StatusCode != 400 || e.Code != "invalid_request" || e.Details["field"] != "period" {
					t.Errorf("period %s: %+v", bad, e)
				}
			}
		})
		t.Run("Forbidden", func(t *testing.T) {
			for _, role := range []models.Role{models.RoleDeveloper, models.RoleViewer} {
				u := s.CreateUser(s.AdminToken, string(role)+"@example.com", role)
				b := neuais.NewClient(u.Token, neuais.WithBaseURL(s.URL)).Billing()
				_, err := b.Usage()
				if e := apiError(t, err); e.StatusCode != 403 || e.Code != "forbidden" {
					t.Errorf("usage as %s: %+v", role, e)
				}
				_, err = b.Invoices()
				if e := apiError(t, err); e.StatusCode != 403 || e.Code != "forbidden" {
					t.Errorf("invoices as %s: %+v", role, e)
				}
				_, err = b.Invoice(last.ID)
				if e := apiError(t, err); e.StatusCode != 403 || e.Code != "forbidden" {
					t.Errorf("invoice as %s: %+v", role, e)
				}
			}
		})
		t.Run("Invoices", func(t *testing.T) {
			list, err := billing.Invoices(&neuais.ListOptions{Limit: 1})
			if err != nil || list.Total != 2 || !list.HasMore || len(list.Invoices) != 1 {
				t.Fatalf("Invoices = %+v, %v", list, err)
			}
			if got := list.Invoices[0]; got.ID != last.ID || got.Period != last.Period || int64(got.Amount) != int64(last.Amount) ||
				got.Status != string(last.Status) || got.DueDate != last.DueDate {
				t.Fatalf("newest invoice %+v, want %+v", got, last)
			}
			var periods []string
			for inv, err := range billing.AllInvoices(&neuais.ListOptions{Limit: 1}) {
				if err != nil {
					t.Fatal(err)
				}
				periods = append(periods, inv.Period)
			}
			if len(periods) != 2 || periods[0] != invs[0].Period || periods[1] != invs[1].Period {
				t.Fatalf("AllInvoices = %v", periods)
			}
			if _, err := billing.Invoices(&neuais.ListOptions{Sort: "due"}); apiError(t, err).Code != "invalid_request" {
				t.Fatalf("bad sort: %v", err)
			}
		})
		t.Run("Invoice", func(t *testing.T) {
			inv, err := billing.Invoice(last.ID)
			if err != nil || inv.ID != last.ID || inv.DueDate != last.DueDate || !inv.CreatedAt.Equal(last.CreatedAt) || len(inv.Lines) != 3 {
				t.Fatalf("Invoice = %+v, %v", inv, err)
			}
			var sum neuais.Money
			for _, l := range inv.Lines {
				sum += l.Amount
			}
			if sum != inv.Amount || inv.Lines[2].Item != "network" || inv.Lines[2].Quantity != float64(billedBytes)/1e9 {
				t.Fatalf("lines %+v, amount %s", inv.Lines, inv.Amount)
			}
			// The cents are those of the answer's text, not of a float.
			var raw struct {
				Amount json.Number `json:"amount"`
				Lines  []struct {
					Amount json.Number `json:"amount"`
				} `json:"lines"`
			}
			d := json.NewDecoder(bytes.NewReader(s.Do(http.MethodGet, "/v1/billing/invoices/"+last.ID, s.AdminToken, nil).Body))
			d.UseNumber()
			if err := d.Decode(&raw); err != nil || raw.Amount.String() != inv.Amount.String() || raw.Lines[2].Amount.String() != inv.Lines[2].Amount.String() {
				t.Fatalf("answer %+v, decoded %s and %s (%v)", raw, inv.Amount, inv.Lines[2].Amount, err)
			}
		})
		t.Run("OtherOrganizations", func(t *testing.T) {
			other := s.CreateOrg("other", "other@example.com", models.TierFree)
			oc := neuais.NewClient(other.Token, neuais.WithBaseURL(s.URL))
			oa, err := oc.Agents().Create(neuais.CreateAgentRequest{Name: "other-billed", Runtime: "native", BinaryURL: "https://example.com/billed"})
			if err != nil {
				t.Fatal(err)
			}
			theirs, err := apitest.CloseMonths(context.Background(), s.App, other.OrgID, oa.ID, 1, 1)
			if err != nil {
				t.Fatal(err)
			}
			_, err = billing.Invoice(theirs[0].ID)
			if e := apiError(t, err); e.StatusCode != 404 || e.Code != "not_found" {
				t.Fatalf("another organization's invoice: %+v", e)
			}
			if got, err := oc.Billing().Invoice(theirs[0].ID); err != nil || got.ID != theirs[0].ID {
				t.Fatalf("their own = %+v, %v", got, err)
			}
		})
	})
}

func TestMoney(t *testing.T) {
	for in, want := range map[string]string{"65.00": "65.00", "6.17": "6.17", "0.5": "0.50", "12": "12.00", "-1.05": "-1.05", "0.07": "0.07"} {
		var m neuais.Money
		if err := json.Unmarshal([]byte(in), &m); err != nil || m.String() != want {
			t.Errorf("%s: %s, %v", in, m, err)
		}
		if out, err := json.Marshal(m); err != nil || string(out) != want {
			t.Errorf("marshal %s: %s, %v", in, out, err)
		}
	}
	for _, bad := range []string{"6.175", `"6.17"`, "1e2", ".5", "--1"} {
		var m neuais.Money
		if err := json.Unmarshal([]byte(bad), &m); err == nil {
			t.Errorf("%s accepted as %s", bad, m)
		}
	}
}
