package rest

import "net/http"

// eventSelection is one event of the log, shaped like the webhook payload
// with its id.
const eventSelection = `event timestamp data { agent_id: agentId name status reason changed }`

var eventRoutes = []Route{
	{Method: http.MethodGet, Path: "/events", Summary: "The organization's events from the durable log, newest first; follow=true streams later ones as Server-Sent Events (Last-Event-ID resumes)",
		List: true, DropNulls: true,
		Doc: `query($type: String, $agentId: ID, $limit: Int, $offset: Int, $sort: String) {
			r: events(type: $type, agentId: $agentId, limit: $limit, offset: $offset, sort: $sort) {
				events: items { id ` + eventSelection + ` } total limit offset has_more: hasMore } }`,
		Stream:       `subscription($type: String, $agentId: ID, $after: ID) { r: agentEvents(agentId: $agentId, type: $type, after: $after) { _id: id id ` + eventSelection + ` } }`,
		Params:       []Param{{Var: "type", From: FromQuery, Key: "type"}, {Var: "agentId", From: FromQuery, Key: "agent_id"}},
		StreamParams: []Param{{Var: "after", From: FromHeader, Key: "Last-Event-ID", Kind: Int}}},
}
