package rest

import "net/http"

// serviceFields are the names fields= accepts on GET /services, the
// contract's item.
var serviceFields = []Field{{Name: "name"}, {Name: "status"}, {Name: "version"}, {Name: "uptime"}}

var serviceRoutes = []Route{
	{Method: http.MethodGet, Path: "/services", Summary: "List the platform's components and their health", List: true, Fields: serviceFields,
		Doc: listQuery("services", "services", "{ {fields} }")},
	{Method: http.MethodGet, Path: "/services/{name}/status", Summary: "Check one component",
		Doc:    `query($name: String!) { r: service(name: $name) { name status detail version uptime instance } }`,
		Params: []Param{{Var: "name", From: FromPath, Key: "name"}}},
}
