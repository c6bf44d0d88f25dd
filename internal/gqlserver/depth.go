package gqlserver

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/neuais/neuais/models"
)

// DepthLimit refuses operations nested deeper than max. Introspection
// fields (__schema, __type) do not count, so tools can load the schema.
func DepthLimit(max int) graphql.HandlerExtension { return depthLimit{max: max} }

type depthLimit struct{ max int }

func (depthLimit) ExtensionName() string                   { return "DepthLimit" }
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }
func (d depthLimit) MutateOperationContext(_ context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	if depth := selectionDepth(rc.Operation.SelectionSet, 0, map[string]bool{}); depth > d.max {
		err := gqlerror.Errorf("operation is nested %d levels deep, more than the limit of %d", depth, d.max)
		err.Extensions = map[string]any{"code": models.CodeInvalidRequest}
		return err
	}
	return nil
}

func selectionDepth(set ast.SelectionSet, depth int, seen map[string]bool) int {
	deepest := depth
	for _, sel := range set {
		var d int
		switch sel := sel.(type) {
		case *ast.Field:
			if len(sel.Name) > 1 && sel.Name[:2] == "__" {
				continue
			}
			d = selectionDepth(sel.SelectionSet, depth+1, seen)
		case *ast.InlineFragment:
			d = selectionDepth(sel.SelectionSet, depth, seen)
		case *ast.FragmentSpread:
			if seen[sel.Name] || sel.Definition == nil {
				continue
			}
			seen[sel.Name] = true
			d = selectionDepth(sel.Definition.SelectionSet, depth, seen)
			delete(seen, sel.Name)
		}
		deepest = max(deepest, d)
	}
	return deepest
}
