package models

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/uptrace/bun"
)

// Cents is an amount of money in hundredths of the currency unit: every
// billed line is rounded to cents once, so sums of lines stay exact.
type Cents int64

// String formats c with two decimals, as the contract shows money.
func (c Cents) String() string {
	sign := ""
	if c < 0 {
		sign, c = "-", -c
	}
	return fmt.Sprintf("%s%d.%02d", sign, c/100, c%100)
}

// MarshalCents writes Money as a JSON number with two decimals.
func MarshalCents(c Cents) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) { _, _ = io.WriteString(w, c.String()) })
}

// UnmarshalCents is never used by the schema (Money is output only).
func UnmarshalCents(v any) (Cents, error) {
	return 0, Invalid("", "money is not an input")
}

// Micros is a quantity in millionths of its unit (hours, GB); it is shown
// rounded to six decimals, while prices use the exact measure.
type Micros int64

// String formats m with up to six decimals, trailing zeros dropped.
func (m Micros) String() string {
	s := strconv.FormatInt(int64(m)/1e6, 10) + "." + fmt.Sprintf("%06d", abs(int64(m))%1e6)
	if m < 0 && m > -1e6 {
		s = "-" + s
	}
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// MarshalMicros writes Quantity as a JSON number.
func MarshalMicros(m Micros) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) { _, _ = io.WriteString(w, m.String()) })
}

// UnmarshalMicros is never used by the schema (Quantity is output only).
func UnmarshalMicros(v any) (Micros, error) {
	return 0, Invalid("", "quantity is not an input")
}

// InvoiceStatus is where an invoice stands; the operator records payment.
type InvoiceStatus string

// Invoice statuses.
const (
	InvoiceOpen InvoiceStatus = "open"
	InvoicePaid InvoiceStatus = "paid"
	InvoiceVoid InvoiceStatus = "void"
)

// UsageFigures are the measured quantities of a period.
type UsageFigures struct {
	ComputeHours Micros
	StorageGB    Micros
	NetworkGB    Micros
}

// UsageCost prices UsageFigures: each line rounded half up to cents,
// Total their sum.
type UsageCost struct {
	Compute Cents
	Storage Cents
	Network Cents
	Total   Cents
}

// AgentUsage is one agent's share of a period's compute and network.
type AgentUsage struct {
	AgentID      string
	ComputeHours Micros
	NetworkGB    Micros
	Compute      Cents
	Network      Cents
}

// Usage is an organization's usage in a calendar month (UTC).
type Usage struct {
	Period string // YYYY-MM
	Usage  UsageFigures
	Cost   UsageCost
	Agents []AgentUsage
}

// Invoice is a closed month's bill of one organization.
type Invoice struct {
	bun.BaseModel `bun:"table:invoices"`

	ID           string        `bun:"id,pk"`
	OrgID        string        `bun:"org_id,notnull"`
	Period       string        `bun:"period,notnull"`
	Status       InvoiceStatus `bun:"status,notnull"`
	ComputeMicro Micros        `bun:"compute_hours,notnull"`
	StorageMicro Micros        `bun:"storage_gb,notnull"`
	NetworkMicro Micros        `bun:"network_gb,notnull"`
	Compute      Cents         `bun:"compute_cost,notnull"`
	Storage      Cents         `bun:"storage_cost,notnull"`
	Network      Cents         `bun:"network_cost,notnull"`
	Amount       Cents         `bun:"amount,notnull"`
	DueDate      string        `bun:"due_date,notnull"` // YYYY-MM-DD
	CreatedAt    time.Time     `bun:"created_at,notnull"`
	UpdatedAt    time.Time     `bun:"updated_at,notnull"`
}

// InvoiceLine is one priced line of an invoice.
type InvoiceLine struct {
	Item     string // compute, storage, network
	Quantity Micros
	Unit     string // hour, GB
	Amount   Cents
}

// Lines returns the invoice's priced lines.
func (i *Invoice) Lines() []InvoiceLine {
	return []InvoiceLine{
		{Item: "compute", Quantity: i.ComputeMicro, Unit: "hour", Amount: i.Compute},
		{Item: "storage", Quantity: i.StorageMicro, Unit: "GB", Amount: i.Storage},
		{Item: "network", Quantity: i.NetworkMicro, Unit: "GB", Amount: i.Network},
	}
}

// InvoicePage is one page of invoices, newest period first.
type InvoicePage struct {
	Items   []*Invoice
	Total   int
	Limit   int
	Offset  int
	HasMore bool
}
