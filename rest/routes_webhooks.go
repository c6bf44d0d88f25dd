package rest

import "net/http"

// webhookFields are the names fields= accepts on GET /webhooks.
var webhookFields = []Field{
	{Name: "id"},
	{Name: "url"},
	{Name: "events"},
	{Name: "active"},
	{Name: "status"},
	{Name: "disabled_reason", Selection: "disabled_reason: disabledReason"},
	{Name: "failing_since", Selection: "failing_since: failingSince"},
	{Name: "previous_secret_expires_at", Selection: "previous_secret_expires_at: previousSecretExpiresAt"},
	{Name: "created_at", Selection: "created_at: createdAt"},
	{Name: "updated_at", Selection: "updated_at: updatedAt"},
}

// webhookDetail is one webhook as the routes return it; never its secret.
const webhookDetail = `{ id url events active status disabled_reason: disabledReason failing_since: failingSince
	previous_secret_expires_at: previousSecretExpiresAt created_at: createdAt updated_at: updatedAt }`

// newWebhookDetail is a webhook with its secret, on create and rotation only.
const newWebhookDetail = `{ id url events active status secret previous_secret_expires_at: previousSecretExpiresAt
	created_at: createdAt updated_at: updatedAt }`

// deliveryDetail is one delivery with its attempts.
const deliveryDetail = `{ id webhook_id: webhookId message_id: messageId event status attempt_count: attemptCount
	next_attempt_at: nextAttemptAt created_at: createdAt updated_at: updatedAt
	attempts { attempted_at: attemptedAt status_code: statusCode duration_ms: durationMs error response next_retry_at: nextRetryAt } }`

var deliveryIDParam = Param{Var: "deliveryId", From: FromPath, Key: "delivery_id"}

var webhookRoutes = []Route{
	{Method: http.MethodPost, Path: "/webhooks", Summary: "Create a webhook (its secret, generated as whsec_… when not given, is shown only here)",
		Status: http.StatusCreated, Location: "/webhooks/",
		Doc:    `mutation($input: CreateWebhookInput!, $idempotencyKey: String) { r: createWebhook(input: $input, idempotencyKey: $idempotencyKey) ` + newWebhookDetail + ` }`,
		Body:   "input",
		Params: []Param{{Var: "idempotencyKey", From: FromHeader, Key: "Idempotency-Key"}}},
	{Method: http.MethodGet, Path: "/webhooks", Summary: "List the organization's webhooks", List: true, Fields: webhookFields,
		Doc: listQuery("webhooks", "webhooks", "{ {fields} }")},
	{Method: http.MethodGet, Path: "/webhooks/{id}", Summary: "Get a webhook",
		Doc:    `query($id: ID!) { r: webhook(id: $id) ` + webhookDetail + ` }`,
		Params: []Param{idParam}},
	{Method: http.MethodPut, Path: "/webhooks/{id}", Summary: "Change a webhook's url, events or active flag (active: true enables a disabled one again)",
		Doc:    `mutation($id: ID!, $input: UpdateWebhookInput!) { r: updateWebhook(id: $id, input: $input) ` + webhookDetail + ` }`,
		Body:   "input",
		Params: []Param{idParam}},
	{Method: http.MethodDelete, Path: "/webhooks/{id}", Summary: "Delete a webhook and its deliveries", Message: "Webhook deleted successfully",
		Doc:    `mutation($id: ID!) { r: deleteWebhook(id: $id) { id } }`,
		Params: []Param{idParam}},
	{Method: http.MethodPost, Path: "/webhooks/{id}/rotate-secret", Summary: "Give a webhook a new secret (shown only here); the old one signs beside it for 24 hours",
		Doc:    `mutation($id: ID!) { r: rotateWebhookSecret(id: $id) ` + newWebhookDetail + ` }`,
		Params: []Param{idParam}},
	{Method: http.MethodPost, Path: "/webhooks/{id}/test", Summary: "Send a signed webhook.test message now", Status: http.StatusAccepted,
		Doc:    `mutation($id: ID!) { r: testWebhook(id: $id) ` + deliveryDetail + ` }`,
		Params: []Param{idParam}},
	{Method: http.MethodGet, Path: "/webhooks/{id}/deliveries", Summary: "A webhook's deliveries, newest first, each with its attempts", List: true,
		Doc:    listQuery("webhookDeliveries", "deliveries", deliveryDetail, "$id: ID!", "$status: String"),
		Params: []Param{idParam, {Var: "status", From: FromQuery, Key: "status"}}},
	{Method: http.MethodPost, Path: "/webhooks/{id}/deliveries/{delivery_id}/retry", Summary: "Attempt a delivery once more, now", Status: http.StatusAccepted,
		Doc:    `mutation($id: ID!, $deliveryId: ID!) { r: retryWebhookDelivery(id: $id, deliveryId: $deliveryId) ` + deliveryDetail + ` }`,
		Params: []Param{idParam, deliveryIDParam}},
}
