package gqlserver

import (
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestOperationName: the operation label is the client's name only when
// it is short and plain, so that names cannot grow the series without bound.
func TestOperationName(t *testing.T) {
	for _, c := range []struct {
		requested, inDocument, want string
	}{
		{"", "", "anonymous"},
		{"ListAgents", "", "ListAgents"},
		{"", "FromTheDocument", "FromTheDocument"},
		{"with space", "", "other"},
		{"naïve", "", "other"},
		{strings.Repeat("a", 64), "", strings.Repeat("a", 64)},
		{strings.Repeat("a", 65), "", "other"},
	} {
		oc := &graphql.OperationContext{OperationName: c.requested}
		if c.inDocument != "" {
			oc.Operation = &ast.OperationDefinition{Name: c.inDocument}
		}
		if got := operationName(oc); got != c.want {
			t.Errorf("%q/%q: %q, want %q", c.requested, c.inDocument, got, c.want)
		}
	}
}
