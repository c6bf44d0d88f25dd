package rest

import "net/http"

var serviceRoutes = []Route{
	// No alias r: the whole data object {"services": […]} is the body.
	{Method: http.MethodGet, Path: "/services", Summary: "List the platform's components and their health",
		Doc: `query { services { name status version uptime } }`},
	{Method: http.MethodGet, Path: "/services/{name}/status", Summary: "Check one component",
		Doc:    `query($name: String!) { r: service(name: $name) { name status version uptime } }`,
		Params: []Param{{Var: "name", From: FromPath, Key: "name"}}},
}
