package gqlserver

import (
	"context"
	"sort"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/neuais/neuais/models"
)

// nulReason is why a string holding U+0000 is refused.
const nulReason = "must not contain NUL characters"

// RejectNUL refuses operations whose variables or string literals hold a
// NUL character: no input of the API may hold one, PostgreSQL text cannot
// store one and SQLite fails on it in a query, so it would otherwise
// surface as internal_error. The error is invalid_request naming the
// variable path, like gqlgen's own variable errors.
func RejectNUL() graphql.HandlerExtension { return rejectNUL{} }

type rejectNUL struct{}

func (rejectNUL) ExtensionName() string                   { return "RejectNUL" }
func (rejectNUL) Validate(graphql.ExecutableSchema) error { return nil }
func (rejectNUL) MutateOperationContext(_ context.Context, rc *graphql.OperationContext) *gqlerror.Error {
	names := make([]string, 0, len(rc.Variables))
	for name := range rc.Variables {
		names = append(names, name)
	}
	sort.Strings(names) // the same input reports the same field every time
	for _, name := range names {
		if path := nulPath(rc.Variables[name], ast.Path{ast.PathName("variable"), ast.PathName(name)}); path != nil {
			err := gqlerror.ErrorPathf(path, nulReason)
			err.Extensions = map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}
			return err
		}
	}
	if pos := nulLiteral(rc.Operation.SelectionSet, map[string]bool{}); pos != nil {
		err := gqlerror.ErrorPosf(pos, "string literal %s", nulReason)
		err.Extensions = map[string]any{"code": models.CodeInvalidRequest}
		return err
	}
	return nil
}

// nulPath returns the path of the first string in v holding a NUL, or nil.
func nulPath(v any, path ast.Path) ast.Path {
	switch v := v.(type) {
	case string:
		if strings.ContainsRune(v, 0) {
			return path
		}
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if strings.ContainsRune(k, 0) {
				return append(path, ast.PathName(k))
			}
			if p := nulPath(v[k], append(path, ast.PathName(k))); p != nil {
				return p
			}
		}
	case []any:
		for i, e := range v {
			if p := nulPath(e, append(path, ast.PathIndex(i))); p != nil {
				return p
			}
		}
	}
	return nil
}

// nulLiteral returns the position of the first argument literal holding a
// NUL in set, its fragments included, or nil.
func nulLiteral(set ast.SelectionSet, seen map[string]bool) *ast.Position {
	for _, sel := range set {
		var pos *ast.Position
		switch sel := sel.(type) {
		case *ast.Field:
			for _, arg := range sel.Arguments {
				if pos = nulValue(arg.Value); pos != nil {
					return pos
				}
			}
			pos = nulLiteral(sel.SelectionSet, seen)
		case *ast.InlineFragment:
			pos = nulLiteral(sel.SelectionSet, seen)
		case *ast.FragmentSpread:
			if seen[sel.Name] || sel.Definition == nil {
				continue
			}
			seen[sel.Name] = true
			pos = nulLiteral(sel.Definition.SelectionSet, seen)
		}
		if pos != nil {
			return pos
		}
	}
	return nil
}

func nulValue(v *ast.Value) *ast.Position {
	if v == nil {
		return nil
	}
	if (v.Kind == ast.StringValue || v.Kind == ast.BlockValue) && strings.ContainsRune(v.Raw, 0) {
		return v.Position
	}
	for _, c := range v.Children {
		if strings.ContainsRune(c.Name, 0) {
			return c.Position
		}
		if pos := nulValue(c.Value); pos != nil {
			return pos
		}
	}
	return nil
}
