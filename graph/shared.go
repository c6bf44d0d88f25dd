package graph

import (
	"bytes"
	"context"
	"io"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/neuais/neuais/models"
)

// shared is a value that many operations encode alike (a log line
// published to every follower): tools/gqlgen routes its marshaling
// through marshalShared.
type shared interface {
	Encodings() *models.Encodings
}

// marshalShared encodes v once per selection set and hands every later
// operation with the same selection the same bytes. Only selections of
// plain fields share: no arguments, directives or sub-selections, whose
// result could depend on the operation's variables. An encoding that
// raised an error is not kept, so that each operation reports its own.
func marshalShared[T shared](ctx context.Context, sel ast.SelectionSet, v T, marshal func(context.Context, ast.SelectionSet, T) graphql.Marshaler) graphql.Marshaler {
	enc := v.Encodings()
	if enc == nil || !plainFields(sel) {
		return marshal(ctx, sel, v)
	}
	// The fields belong to the parsed document, which every execution of
	// it shares (REST's compiled documents, /graphql's cached ones), while
	// sel is collected anew each time. A kept key keeps its document from
	// being freed and its fields' addresses reused.
	key := selectionKey{first: sel[0].(*ast.Field), last: sel[len(sel)-1].(*ast.Field), n: len(sel)}
	if data, ok := enc.Get(key); ok {
		return encoded(data)
	}
	errs := len(graphql.GetErrors(ctx))
	var buf bytes.Buffer
	marshal(ctx, sel, v).MarshalGQL(&buf)
	data := buf.Bytes()
	if len(graphql.GetErrors(ctx)) == errs {
		enc.Put(key, data)
	}
	return encoded(data)
}

type selectionKey struct {
	first, last *ast.Field
	n           int
}

func plainFields(sel ast.SelectionSet) bool {
	if len(sel) == 0 {
		return false
	}
	for _, s := range sel {
		f, ok := s.(*ast.Field)
		if !ok || len(f.Arguments) > 0 || len(f.Directives) > 0 || len(f.SelectionSet) > 0 {
			return false
		}
	}
	return true
}

type encoded []byte

func (e encoded) MarshalGQL(w io.Writer) { _, _ = w.Write(e) }
