package rest

import "net/http"

// eventSelection is one event of the log, shaped like the webhook payload
// with its id.
const eventSelection = `event timestamp data { agent_id: agentId name status reason changed }`

var eventRoutes = []Route{
	{Method: http.MethodGet, Path: "/events", Summary: "The organization's events from the durable log, newest first; follow=true streams later ones as Server-Sent Events (Last-Event-ID resumes)",
		List: true, DropNulls: true,
		Doc:          listQuery("events", "events", "{ id "+eventSelection+" }", "$type: String", "$agentId: ID"),
		Stream:       `subscription($type: String, $agentId: ID, $after: ID) { r: agentEvents(agentId: $agentId, type: $type, after: $after) { _id: id id ` + eventSelection + ` } }`,
		Params:       []Param{{Var: "type", From: FromQuery, Key: "type"}, {Var: "agentId", From: FromQuery, Key: "agent_id"}},
		StreamParams: []Param{{Var: "after", From: FromHeader, Key: "Last-Event-ID", Kind: Int}}},
}
