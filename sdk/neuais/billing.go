package neuais

import (
	"context"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Money is an amount in cents. It is read from the API's two-decimal
// figures (65.00) as text, never through a float, so no cent is lost;
// String writes it back as the API does.
type Money int64

// String formats m with two decimals: "65.00".
func (m Money) String() string {
	sign, c := "", int64(m)
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}

// MarshalJSON writes m as the API does, a number with two decimals.
func (m Money) MarshalJSON() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalJSON reads a JSON number of at most two decimals; null leaves
// m as it is.
func (m *Money) UnmarshalJSON(data []byte) error {
	s := string(data)
	if s == "null" {
		return nil
	}
	units, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	if units == "" || len(frac) > 2 || strings.ContainsAny(units+frac, "+-eE") {
		return fmt.Errorf("neuais: money %s: want a number with at most two decimals", s)
	}
	n, err := strconv.ParseInt(units+(frac + "00")[:2], 10, 64)
	if err != nil {
		return fmt.Errorf("neuais: money %s: %w", s, err)
	}
	if strings.HasPrefix(s, "-") {
		n = -n
	}
	*m = Money(n)
	return nil
}

// UsageFigures are a month's measured quantities, to six decimals.
type UsageFigures struct {
	ComputeHours float64 `json:"compute_hours"`
	StorageGB    float64 `json:"storage_gb"`
	NetworkGB    float64 `json:"network_gb"`
}

// UsageCost prices UsageFigures: each line rounded to cents, Total their sum.
type UsageCost struct {
	Compute Money `json:"compute"`
	Storage Money `json:"storage"`
	Network Money `json:"network"`
	Total   Money `json:"total"`
}

// AgentUsage is one agent's share of a month's compute and network.
type AgentUsage struct {
	AgentID      string  `json:"agent_id"`
	ComputeHours float64 `json:"compute_hours"`
	NetworkGB    float64 `json:"network_gb"`
	ComputeCost  Money   `json:"compute_cost"`
	NetworkCost  Money   `json:"network_cost"`
}

// Usage is the organization's usage in a calendar month (UTC) and its cost.
type Usage struct {
	Period string       `json:"period"` // YYYY-MM
	Usage  UsageFigures `json:"usage"`
	Cost   UsageCost    `json:"cost"`
	// Agents is each agent's share, with UsageOptions.ByAgent only.
	Agents []AgentUsage `json:"agents,omitempty"`
}

// UsageOptions choose the month and the breakdown of Usage.
type UsageOptions struct {
	Period  string // current (default), last_month or YYYY-MM
	ByAgent bool   // adds Usage.Agents
}

// Invoice is a closed month's bill.
type Invoice struct {
	ID      string `json:"id"`
	Period  string `json:"period"` // YYYY-MM
	Amount  Money  `json:"amount"`
	Status  string `json:"status"`   // open, paid or void
	DueDate string `json:"due_date"` // YYYY-MM-DD, the first of the following month
}

// InvoiceLine is one priced line of an invoice.
type InvoiceLine struct {
	Item     string  `json:"item"` // compute, storage or network
	Quantity float64 `json:"quantity"`
	Unit     string  `json:"unit"` // hour or GB
	Amount   Money   `json:"amount"`
}

// InvoiceDetail is an invoice with its lines.
type InvoiceDetail struct {
	Invoice
	Lines     []InvoiceLine `json:"lines"`
	CreatedAt time.Time     `json:"created_at"`
}

// InvoiceList is one page of invoices.
type InvoiceList struct {
	Invoices []Invoice `json:"invoices"`
	Page
}

// BillingService calls the /billing routes, which are the admins' alone
// (forbidden for developers and viewers).
type BillingService struct{ c *Client }

// Billing returns the billing API.
func (c *Client) Billing() *BillingService { return &BillingService{c} }

// Usage returns the organization's usage and cost in a month.
func (s *BillingService) Usage(opts ...*UsageOptions) (*Usage, error) {
	return s.UsageContext(s.c.ctx, first(opts))
}

// UsageContext is Usage with a context; opts may be nil.
// Errors: forbidden, invalid_request (period, also a month still to come).
func (s *BillingService) UsageContext(ctx context.Context, opts *UsageOptions) (*Usage, error) {
	q := url.Values{}
	if opts != nil && opts.Period != "" {
		q.Set("period", opts.Period)
	}
	if opts != nil && opts.ByAgent {
		q.Set("breakdown", "agent")
	}
	var u Usage
	if err := s.c.do(ctx, http.MethodGet, "/billing/usage", q, nil, &u); err != nil {
		return nil, err
	}
	return &u, nil
}

// Invoices returns a page of the organization's invoices, newest period
// first (Sort: period, created_at or amount; the route takes no Fields).
func (s *BillingService) Invoices(opts ...*ListOptions) (*InvoiceList, error) {
	return s.InvoicesContext(s.c.ctx, first(opts))
}

// InvoicesContext is Invoices with a context; opts may be nil.
// Errors: forbidden, invalid_request (limit, offset, sort).
func (s *BillingService) InvoicesContext(ctx context.Context, opts *ListOptions) (*InvoiceList, error) {
	var list InvoiceList
	if err := s.c.do(ctx, http.MethodGet, "/billing/invoices", opts.values(), nil, &list); err != nil {
		return nil, err
	}
	return &list, nil
}

// AllInvoices yields every invoice, over all pages.
func (s *BillingService) AllInvoices(opts ...*ListOptions) iter.Seq2[Invoice, error] {
	return s.AllInvoicesContext(s.c.ctx, first(opts))
}

// AllInvoicesContext is AllInvoices with a context; opts may be nil.
func (s *BillingService) AllInvoicesContext(ctx context.Context, opts *ListOptions) iter.Seq2[Invoice, error] {
	o := ListOptions{}
	if opts != nil {
		o = *opts
	}
	return pages(&o, func() ([]Invoice, Page, error) {
		list, err := s.InvoicesContext(ctx, &o)
		if err != nil {
			return nil, Page{}, err
		}
		return list.Invoices, list.Page, nil
	})
}

// Invoice returns one invoice with its lines.
func (s *BillingService) Invoice(id string) (*InvoiceDetail, error) {
	return s.InvoiceContext(s.c.ctx, id)
}

// InvoiceContext is Invoice with a context.
// Errors: forbidden, not_found (also another organization's).
func (s *BillingService) InvoiceContext(ctx context.Context, id string) (*InvoiceDetail, error) {
	var inv InvoiceDetail
	if err := s.c.do(ctx, http.MethodGet, "/billing/invoices/"+url.PathEscape(id), nil, nil, &inv); err != nil {
		return nil, err
	}
	return &inv, nil
}
