package rest

import "net/http"

// tokenFields are the names fields= accepts on GET /tokens.
var tokenFields = []Field{
	{Name: "id"},
	{Name: "name"},
	{Name: "role"},
	{Name: "user_id", Selection: "user_id: userId"},
	{Name: "created_at", Selection: "created_at: createdAt"},
	{Name: "expires_at", Selection: "expires_at: expiresAt"},
	{Name: "last_used_at", Selection: "last_used_at: lastUsedAt"},
}

var tokenRoutes = []Route{
	{Method: http.MethodPost, Path: "/tokens", Summary: "Create an API token (nat_…, shown once) with a role no higher than the caller's",
		Doc:  `mutation($input: CreateApiTokenInput!, $idempotencyKey: String) { r: createApiToken(input: $input, idempotencyKey: $idempotencyKey) { id name role user_id: userId token created_at: createdAt expires_at: expiresAt } }`,
		Body: "input", Status: http.StatusCreated, Location: "/tokens/",
		Params: []Param{{Var: "idempotencyKey", From: FromHeader, Key: "Idempotency-Key"}}},
	{Method: http.MethodGet, Path: "/tokens", Summary: "List API tokens (admins: every token of the organization; others: their own)", List: true, Fields: tokenFields,
		Doc: listQuery("apiTokens", "tokens", "{ {fields} }")},
	{Method: http.MethodDelete, Path: "/tokens/{id}", Summary: "Revoke an API token, from the next request on", Message: "Token revoked successfully",
		Doc:    `mutation($id: ID!) { r: revokeApiToken(id: $id) { id } }`,
		Params: []Param{idParam}},
}
