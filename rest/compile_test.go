package rest_test

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/neuais/neuais/graph"
	"github.com/neuais/neuais/internal/gqlserver"
	"github.com/neuais/neuais/resolvers"
	"github.com/neuais/neuais/rest"
)

// TestNewRefusesBadRoutes checks that a route is compiled at start: a
// document that does not validate, or a parameter, body or upload that
// names no variable of it, stops New instead of failing a request.
func TestNewRefusesBadRoutes(t *testing.T) {
	es := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}})
	doc := `query($id: ID!) { r: agent(id: $id) { id } }`
	for _, tc := range []struct {
		name  string
		route rest.Route
		want  string
	}{
		{"Invalid", rest.Route{Doc: `query { r: agent { nothing } }`}, "agent"},
		{"Param", rest.Route{Doc: doc, Params: []rest.Param{{Var: "ident", From: rest.FromPath, Key: "id"}}}, "parameter ident names no variable"},
		{"Body", rest.Route{Doc: doc, Body: "input"}, "body: parameter input names no variable"},
		{"Upload", rest.Route{Doc: doc, Upload: "file"}, "upload names no variable file"},
		{"StreamParam", rest.Route{Doc: doc, Stream: `subscription($id: ID!) { r: agentLogs(id: $id) { id } }`,
			StreamParams: []rest.Param{{Var: "after", From: rest.FromHeader, Key: "Last-Event-ID"}}}, "stream: parameter after names no variable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.route.Method, tc.route.Path = http.MethodGet, "/bad"
			_, err := rest.New(gqlserver.NewExecutor(es, gqlserver.Options{}), es.Schema(), []rest.Route{tc.route}, gqlserver.UploadLimits{}, slog.Default())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want an error with %q", err, tc.want)
			}
		})
	}
}
