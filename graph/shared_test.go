package graph

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/neuais/neuais/models"
)

// TestMarshalShared: a shared line is encoded once for every operation
// that collects the same plain fields (a new selection slice each time,
// as gqlgen collects it), and anew for other fields, for fields with a
// directive, for an unshared line and after an encoding that failed.
func TestMarshalShared(t *testing.T) {
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, graphql.DefaultRecover)
	id, msg := &ast.Field{Name: "id"}, &ast.Field{Name: "message"}
	skipped := &ast.Field{Name: "message", Directives: ast.DirectiveList{{Name: "skip"}}}
	encodes := 0
	marshal := func(ctx context.Context, sel ast.SelectionSet, l *models.LogLine) graphql.Marshaler {
		encodes++
		if l.Message == "fails" {
			graphql.AddError(ctx, errors.New("no"))
		}
		return graphql.MarshalString(l.Message + "/" + sel[len(sel)-1].(*ast.Field).Name)
	}
	encode := func(l *models.LogLine, fields ...ast.Selection) string {
		var buf bytes.Buffer
		marshalShared(ctx, ast.SelectionSet(fields), l, marshal).MarshalGQL(&buf)
		return buf.String()
	}
	line := &models.LogLine{Message: "hello"}
	line.Share()
	for _, c := range []struct {
		line    *models.LogLine
		fields  []ast.Selection
		want    string
		encodes int
	}{
		{line, []ast.Selection{id, msg}, `"hello/message"`, 1},
		{line, []ast.Selection{id, msg}, `"hello/message"`, 1},
		{line, []ast.Selection{msg, id}, `"hello/id"`, 2},
		{line, []ast.Selection{id, skipped}, `"hello/message"`, 3},
		{line, []ast.Selection{id, skipped}, `"hello/message"`, 4},
		{&models.LogLine{Message: "unshared"}, []ast.Selection{id, msg}, `"unshared/message"`, 5},
	} {
		if got := encode(c.line, c.fields...); got != c.want || encodes != c.encodes {
			t.Fatalf("got %s after %d encodings, want %s after %d", got, encodes, c.want, c.encodes)
		}
	}
	failing := &models.LogLine{Message: "fails"}
	failing.Share()
	encode(failing, id, msg)
	encode(failing, id, msg)
	if encodes != 7 || len(graphql.GetErrors(ctx)) != 2 {
		t.Fatalf("%d encodings and %d errors after two failing ones", encodes, len(graphql.GetErrors(ctx)))
	}
}
