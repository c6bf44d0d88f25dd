package rest

import (
	"net/http"
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/neuais/neuais/graph"
)

// agentFields are the schema's Agent fields as REST names them, in the
// schema's order, but the etag, which goes to the ETag header: a field
// added to the agent's spec and schema reaches REST with no edit here.
var agentFields = objectFields(graph.NewExecutableSchema(graph.Config{}).Schema(), "Agent", "etag")

// agentListFields are the names fields= accepts on GET /agents; the list
// never carries the environment, nor what only a single agent's read needs.
var agentListFields = slices.DeleteFunc(slices.Clone(agentFields), func(f Field) bool {
	return slices.Contains([]string{"binary_sha256", "environment", "endpoints"}, f.Name)
})

// agentDetail is one agent as GET /agents/{id} and the lifecycle routes
// return it, its etag first for the ETag header.
var agentDetail = "{ _etag: etag " + selectAll(agentFields) + " }"

// objectFields returns the fields of the object type typ as REST names
// them, but those named in omit; an object field selects all its own.
func objectFields(schema *ast.Schema, typ string, omit ...string) []Field {
	var out []Field
	for _, f := range schema.Types[typ].Fields {
		if slices.Contains(omit, f.Name) {
			continue
		}
		name := snake(f.Name)
		sel := name
		if name != f.Name {
			sel += ": " + f.Name
		}
		if def := schema.Types[f.Type.Name()]; def.Kind == ast.Object {
			sel += " { " + selectAll(objectFields(schema, def.Name)) + " }"
		}
		out = append(out, Field{Name: name, Selection: sel})
	}
	return out
}

func selectAll(fields []Field) string {
	sels := make([]string, len(fields))
	for i, f := range fields {
		sels[i] = f.Selection
	}
	return strings.Join(sels, " ")
}

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
