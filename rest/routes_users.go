package rest

import "net/http"

// userFields are the names fields= accepts on user routes.
var userFields = []Field{
	{Name: "id"},
	{Name: "email"},
	{Name: "role"},
	{Name: "organization_id", Selection: "organization_id: organizationId"},
	{Name: "created_at", Selection: "created_at: createdAt"},
	{Name: "updated_at", Selection: "updated_at: updatedAt"},
}

const userSelection = `id email role organization_id: organizationId created_at: createdAt updated_at: updatedAt`

var userRoutes = []Route{
	{Method: http.MethodGet, Path: "/users", Summary: "List the users of the caller's organization (admins)",
		Doc:  listQuery("users", "users", "{ {fields} }"),
		List: true, Fields: userFields},
	{Method: http.MethodPost, Path: "/users", Summary: "Create a user in the caller's organization (admins)",
		Doc:  `mutation($input: CreateUserInput!, $idempotencyKey: String) { r: createUser(input: $input, idempotencyKey: $idempotencyKey) { ` + userSelection + ` } }`,
		Body: "input", Status: http.StatusCreated, Location: "/users/",
		Params: []Param{{Var: "idempotencyKey", From: FromHeader, Key: "Idempotency-Key"}}},
	{Method: http.MethodGet, Path: "/users/{id}", Summary: "Get a user (admins: any in the organization; others: themselves)",
		Doc:    `query($id: ID!) { r: user(id: $id) { {fields} } }`,
		Params: []Param{{Var: "id", From: FromPath, Key: "id"}}, Fields: userFields},
	{Method: http.MethodPut, Path: "/users/{id}", Summary: "Change a user's e-mail, password or role (admins)",
		Doc:    `mutation($id: ID!, $input: UpdateUserInput!) { r: updateUser(id: $id, input: $input) { ` + userSelection + ` } }`,
		Params: []Param{{Var: "id", From: FromPath, Key: "id"}}, Body: "input"},
	{Method: http.MethodDelete, Path: "/users/{id}", Summary: "Delete a user (admins)",
		Doc:    `mutation($id: ID!) { r: deleteUser(id: $id) }`,
		Params: []Param{{Var: "id", From: FromPath, Key: "id"}}, Message: "User deleted successfully"},
}
