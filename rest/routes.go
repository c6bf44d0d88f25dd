package rest

import "slices"

// Routes returns the whole route table: one entry per /v1 route, grouped
// by area in the routes_*.go files.
func Routes() []Route {
	return slices.Concat(authRoutes, userRoutes, serviceRoutes, agentRoutes, liveRoutes, binaryRoutes, tokenRoutes, webhookRoutes, eventRoutes, billingRoutes)
}
