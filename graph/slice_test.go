package graph

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestMarshalSlice: each element sees its own index, in order, and a
// panic in one becomes that element's null and one error at its path, as
// graphql.MarshalSliceConcurrently does.
func TestMarshalSlice(t *testing.T) {
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, func(ctx context.Context, err any) error {
		return errors.New("recovered")
	})
	ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{Field: graphql.CollectedField{}})
	var seen []int
	ret := marshalSlice(ctx, 3, func(ctx context.Context, i int) graphql.Marshaler {
		seen = append(seen, *graphql.GetFieldContext(ctx).Index)
		if i == 1 {
			panic("element 1")
		}
		return graphql.MarshalInt(i)
	})
	if len(seen) != 3 || seen[0] != 0 || seen[1] != 1 || seen[2] != 2 {
		t.Fatalf("indexes seen %v", seen)
	}
	var buf bytes.Buffer
	ret.MarshalGQL(&buf)
	if buf.String() != "[0,null,2]" {
		t.Fatalf("marshalled %s", buf.String())
	}
	errs := graphql.GetErrors(ctx)
	if len(errs) != 1 || errs[0].Message != "recovered" || len(errs[0].Path) != 1 || errs[0].Path[0] != ast.PathIndex(1) {
		t.Fatalf("errors %v", errs)
	}
}
