package rest

import "net/http"

var liveRoutes = []Route{
	{Method: http.MethodGet, Path: "/agents/{id}/logs", Summary: "An agent's log lines, oldest first; follow=true streams them as Server-Sent Events",
		Doc: `query($id: ID!, $tail: Int, $since: String, $level: String) {
			r: agentLogs(id: $id, tail: $tail, since: $since, level: $level) { logs { timestamp level message replica } } }`,
		Stream: `subscription($id: ID!, $tail: Int, $since: String, $level: String, $after: ID) {
			r: agentLogs(id: $id, tail: $tail, since: $since, level: $level, after: $after) { _id: id timestamp level message replica } }`,
		Params: []Param{idParam, {Var: "tail", From: FromQuery, Key: "tail", Kind: Int},
			{Var: "since", From: FromQuery, Key: "since"}, {Var: "level", From: FromQuery, Key: "level"}},
		StreamParams: []Param{{Var: "after", From: FromHeader, Key: "Last-Event-ID", Kind: Int}}},
	{Method: http.MethodGet, Path: "/agents/{id}/metrics", Summary: "An agent's metric series over a period (1h, 24h, 7d)", DropNulls: true, Wrap: "metrics",
		Doc: `query($id: ID!, $period: String, $metric: String) {
			r: agentMetrics(id: $id, period: $period, metric: $metric) {
				cpu { timestamp value } memory { timestamp value } network { timestamp value } } }`,
		Params: []Param{idParam, {Var: "period", From: FromQuery, Key: "period"}, {Var: "metric", From: FromQuery, Key: "metric"}}},
}
