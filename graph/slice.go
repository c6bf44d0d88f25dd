package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
)

// marshalSlice is graphql.MarshalSliceConcurrently without a goroutine
// per element, for lists of objects that resolve nothing
// (tools/gqlgen): each element has its own field context and a panic
// nulls only that element, as there.
func marshalSlice(ctx context.Context, length int, marshalElement func(ctx context.Context, i int) graphql.Marshaler) graphql.Array {
	ret := make(graphql.Array, length)
	for i := range length {
		ctx := graphql.WithFieldContext(ctx, &graphql.FieldContext{Index: &i})
		func() {
			defer func() {
				if r := recover(); r != nil {
					graphql.AddError(ctx, graphql.Recover(ctx, r))
					ret[i] = graphql.Null
				}
			}()
			ret[i] = marshalElement(ctx, i)
		}()
	}
	return ret
}
