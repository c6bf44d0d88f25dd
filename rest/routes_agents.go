package rest

import "net/http"

// agentListFields are the names fields= accepts on GET /agents; the list
// never carries the environment.
var agentListFields = []Field{
	{Name: "id"},
	{Name: "name"},
	{Name: "status"},
	{Name: "replicas"},
	{Name: "region"},
	{Name: "runtime"},
	{Name: "binary_url", Selection: "binary_url: binaryUrl"},
	{Name: "config", Selection: "config { cpu memory replicas }"},
	{Name: "created_at", Selection: "created_at: createdAt"},
	{Name: "updated_at", Selection: "updated_at: updatedAt"},
}

// agentDetail is one agent as GET /agents/{id} and the lifecycle routes
// return it, its etag first for the ETag header.
const agentDetail = `{ _etag: etag id name status replicas region runtime binary_url: binaryUrl binary_sha256: binarySha256
	config { cpu memory replicas } environment endpoints created_at: createdAt updated_at: updatedAt }`

var idParam = Param{Var: "id", From: FromPath, Key: "id"}

var agentRoutes = []Route{
	{Method: http.MethodGet, Path: "/agents", Summary: "List the organization's agents", List: true, Fields: agentListFields,
		Doc:    listQuery("agents", "agents", "{ {fields} }", "$status: String", "$region: String", "$namePrefix: String"),
		Params: []Param{{Var: "status", From: FromQuery, Key: "status"}, {Var: "region", From: FromQuery, Key: "region"}, {Var: "namePrefix", From: FromQuery, Key: "name_prefix"}}},
	{Method: http.MethodPost, Path: "/agents", Summary: "Create an agent", Status: http.StatusCreated, Location: "/agents/",
		Doc:    `mutation($input: CreateAgentInput!, $idempotencyKey: String) { r: createAgent(input: $input, idempotencyKey: $idempotencyKey) { id name status created_at: createdAt } }`,
		Body:   "input",
		Opaque: []string{"environment"},
		Params: []Param{{Var: "idempotencyKey", From: FromHeader, Key: "Idempotency-Key"}}},
	{Method: http.MethodGet, Path: "/agents/{id}", Summary: "Get an agent", ETag: true,
		Doc:    `query($id: ID!) { r: agent(id: $id) ` + agentDetail + ` }`,
		Params: []Param{idParam}},
	{Method: http.MethodPut, Path: "/agents/{id}", Summary: "Change an agent's fields given (partial)", ETag: true,
		Doc:    `mutation($id: ID!, $input: UpdateAgentInput!, $ifMatch: String) { r: updateAgent(id: $id, input: $input, ifMatch: $ifMatch) ` + agentDetail + ` }`,
		Body:   "input",
		Opaque: []string{"environment"},
		Params: []Param{idParam, {Var: "ifMatch", From: FromHeader, Key: "If-Match", Kind: EntityTag}}},
	{Method: http.MethodDelete, Path: "/agents/{id}", Summary: "Delete an agent", Message: "Agent deleted successfully",
		Doc:    `mutation($id: ID!, $ifMatch: String) { r: deleteAgent(id: $id, ifMatch: $ifMatch) { id } }`,
		Params: []Param{idParam, {Var: "ifMatch", From: FromHeader, Key: "If-Match", Kind: EntityTag}}},
	{Method: http.MethodPost, Path: "/agents/{id}/start", Summary: "Start an agent", ETag: true,
		Doc:    `mutation($id: ID!) { r: startAgent(id: $id) ` + agentDetail + ` }`,
		Params: []Param{idParam}},
	{Method: http.MethodPost, Path: "/agents/{id}/stop", Summary: "Stop an agent", ETag: true,
		Doc:    `mutation($id: ID!) { r: stopAgent(id: $id) ` + agentDetail + ` }`,
		Params: []Param{idParam}},
	{Method: http.MethodPost, Path: "/agents/{id}/restart", Summary: "Restart every replica of an agent", ETag: true,
		Doc:    `mutation($id: ID!) { r: restartAgent(id: $id) ` + agentDetail + ` }`,
		Params: []Param{idParam}},
	{Method: http.MethodPost, Path: "/agents/{id}/scale", Summary: "Set an agent's replica count", ETag: true,
		Doc:    `mutation($id: ID!, $replicas: Int!) { r: scaleAgent(id: $id, replicas: $replicas) ` + agentDetail + ` }`,
		Params: []Param{idParam, {Var: "replicas", From: FromBody, Key: "replicas"}}},
	{Method: http.MethodGet, Path: "/agents/{id}/wait", Summary: "Wait until an agent has a status (408 at the timeout)", ETag: true,
		Doc:    `query($id: ID!, $status: String!, $timeout: String) { r: waitForAgent(id: $id, status: $status, timeout: $timeout) ` + agentDetail + ` }`,
		Params: []Param{idParam, {Var: "status", From: FromQuery, Key: "status"}, {Var: "timeout", From: FromQuery, Key: "timeout"}}},
}
