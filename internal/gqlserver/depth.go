package gqlserver

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/neuais/neuais/models"
)

// IntrospectionDepthLimit bounds the depth of __schema and __type
// selections, counted from the operation's root like any other field.
// The standard introspection query needs 15 levels (graphql-js 16.15's
// TypeRef nests ofType nine times), more than an operation's default
// limit, so introspection has a bound of its own; a chain of ofType 61
// deep is still refused.
const IntrospectionDepthLimit = 20

// DepthLimit refuses operations nested deeper than max fields, and
// introspection (everything under __schema and __type) nested deeper than
// IntrospectionDepthLimit, or at all without introspection. __typename, a
// leaf, adds no level: clients add it to every selection.
func DepthLimit(max int, introspection bool) graphql.HandlerExtension {
	return depthLimit{max: max, introspection: introspection}
}

type depthLimit struct {
	max           int
	introspection bool
}

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (d depthLimit) MutateOperationContext(_ context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	var m depths
	m.walk(rc.Operation.SelectionSet, 0, false, map[string]bool{})
	switch {
	case m.introspection > 0 && !d.introspection:
		// Refused here, coded, before gqlgen's own uncoded refusal.
		forbidden := models.Errorf(models.CodeForbidden, "Introspection is disabled on this server")
		return &gqlerror.Error{Message: forbidden.Message, Err: forbidden}
	case m.fields > d.max:
		return tooDeep(gqlerror.Errorf("operation is nested %d levels deep, more than the limit of %d", m.fields, d.max))
	case m.introspection > IntrospectionDepthLimit:
		return tooDeep(gqlerror.Errorf("introspection is nested %d levels deep, more than the limit of %d", m.introspection, IntrospectionDepthLimit))
	}
	return nil
}

func tooDeep(err *gqlerror.Error) *gqlerror.Error {
	err.Extensions = map[string]any{"code": models.CodeInvalidRequest}
	return err
}

// depths are the deepest levels reached outside and inside introspection.
type depths struct{ fields, introspection int }

func (m *depths) walk(set ast.SelectionSet, depth int, introspection bool, seen map[string]bool) {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			if sel.Name == "__typename" {
				continue
			}
			in := introspection || sel.Name == "__schema" || sel.Name == "__type"
			if in {
				m.introspection = max(m.introspection, depth+1)
			} else {
				m.fields = max(m.fields, depth+1)
			}
			m.walk(sel.SelectionSet, depth+1, in, seen)
		case *ast.InlineFragment:
			m.walk(sel.SelectionSet, depth, introspection, seen)
		case *ast.FragmentSpread:
			if seen[sel.Name] || sel.Definition == nil {
				continue
			}
			seen[sel.Name] = true
			m.walk(sel.Definition.SelectionSet, depth, introspection, seen)
			delete(seen, sel.Name)
		}
	}
}
