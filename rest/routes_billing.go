package rest

import "net/http"

const (
	usageSelection   = `period usage { compute_hours: computeHours storage_gb: storageGb network_gb: networkGb } cost { compute storage network total }`
	invoiceSelection = `id period amount status due_date: dueDate`
)

// billingRoutes serve usage and invoices to admins.
var billingRoutes = []Route{
	{Method: http.MethodGet, Path: "/billing/usage", Summary: "The organization's usage and its cost in a UTC month: period current (default), last_month or YYYY-MM; breakdown=agent adds each agent's share (admins)",
		Doc: `query($period: String, $byAgent: Boolean = false) { r: usage(period: $period) { ` + usageSelection +
			` agents @include(if: $byAgent) { agent_id: agentId compute_hours: computeHours network_gb: networkGb compute_cost: compute network_cost: network } } }`,
		Params: []Param{{Var: "period", From: FromQuery, Key: "period"}, {Var: "byAgent", From: FromQuery, Key: "breakdown", Kind: ByAgent}}},
	{Method: http.MethodGet, Path: "/billing/invoices", Summary: "The organization's invoices, newest period first (admins)", List: true,
		Doc: listQuery("invoices", "invoices", "{ "+invoiceSelection+" }")},
	{Method: http.MethodGet, Path: "/billing/invoices/{id}", Summary: "An invoice with its lines (admins)",
		Doc:    `query($id: ID!) { r: invoice(id: $id) { ` + invoiceSelection + ` lines { item quantity unit amount } created_at: createdAt } }`,
		Params: []Param{idParam}},
}
