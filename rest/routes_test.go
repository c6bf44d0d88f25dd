package rest_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/neuais/neuais/graph"
	"github.com/neuais/neuais/resolvers"
	"github.com/neuais/neuais/rest"
)

var pathParam = regexp.MustCompile(`\{([^}]+)\}`)

// TestRouteTable walks every route: its document must validate against the
// schema with every field selected, alias its root field r and use every
// path parameter of its pattern.
func TestRouteTable(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{Resolvers: &resolvers.Resolver{}}).Schema()
	seen := map[string]bool{}
	for _, route := range rest.Routes() {
		name := route.Method + " " + route.Path
		t.Run(name, func(t *testing.T) {
			if seen[name] {
				t.Fatal("route declared twice")
			}
			seen[name] = true
			doc := route.Doc
			if len(route.Fields) > 0 {
				if !strings.Contains(doc, "{fields}") {
					t.Fatal("route has Fields but no {fields} placeholder")
				}
				var sel []string
				for _, f := range route.Fields {
					s := f.Selection
					if s == "" {
						s = f.Name
					}
					sel = append(sel, s)
				}
				doc = strings.Replace(doc, "{fields}", strings.Join(sel, " "), 1)
			}
			parsed, errs := gqlparser.LoadQueryWithRules(schema, doc, nil) // nil: the default rules
			if errs != nil {
				t.Fatalf("document does not validate: %v", errs)
			}
			if len(parsed.Operations) != 1 || len(parsed.Operations[0].SelectionSet) != 1 {
				t.Fatal("document must hold one operation with one root field")
			}
			if root, ok := parsed.Operations[0].SelectionSet[0].(*ast.Field); !ok || root.Alias != "r" {
				t.Fatal("root field must be aliased r")
			}
			for _, m := range pathParam.FindAllStringSubmatch(route.Path, -1) {
				if !slices.ContainsFunc(route.Params, func(p rest.Param) bool { return p.From == rest.FromPath && p.Key == m[1] }) {
					t.Errorf("path parameter %s is not mapped to a variable", m[1])
				}
			}
		})
	}
}
