package agents_test

import (
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/uptrace/bun"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/neuais/neuais/graph"
	"github.com/neuais/neuais/internal/apitest"
	"github.com/neuais/neuais/models"
)

// TestAgentSpecAgrees checks that the agent spec's columns are columns of
// the agents table as the migrations leave it, that the table's columns
// are models.Agent's, and that the spec's inputs are the schema's, each
// one read back in its Agent type.
func TestAgentSpecAgrees(t *testing.T) {
	schema := graph.NewExecutableSchema(graph.Config{}).Schema()
	create, update := fieldPaths(schema, "CreateAgentInput", ""), fieldPaths(schema, "UpdateAgentInput", "")
	output := fieldPaths(schema, "Agent", "")
	apitest.EachDB(t, func(t *testing.T, databaseURL string) {
		d := apitest.MustOpenDB(t, databaseURL)
		table := tableColumns(t, d, "agents")
		model := modelColumns(d, reflect.TypeFor[models.Agent]())

		t.Run("OK", func(t *testing.T) {
			for _, p := range specDisagreements(models.AgentSpec(), model, table, create, update, output) {
				t.Error(p)
			}
		})

		t.Run("ErrExtraSpecField", func(t *testing.T) {
			type colourAgent struct {
				models.Agent
				Colour string `bun:"colour,notnull" spec:"colour"`
			}
			spec, err := models.SpecFields(reflect.TypeFor[colourAgent]())
			if err != nil {
				t.Fatal(err)
			}
			wantProblems(t, specDisagreements(spec, model, table, create, update, output),
				`spec column "colour" is not a column of the table`,
				`spec input "colour" is not a field of the create input`,
				`spec input "colour" is not a field of the update input`,
				`spec input "colour" is not a field of the output type`)
		})

		t.Run("ErrColumnNotInModel", func(t *testing.T) {
			wantProblems(t, specDisagreements(models.AgentSpec(), model, append(table, "colour"), create, update, output),
				`column "colour" of the table is not in the model`)
		})

		t.Run("ErrInputNotInSpec", func(t *testing.T) {
			wantProblems(t, specDisagreements(models.AgentSpec(), model, table, create, append(update, "region"), output),
				`update input "region" has no spec field that is not create-only`)
		})
	})
}

// specDisagreements lists what is wrong between a spec, its model's
// columns, its table's columns and the field paths of its create and
// update inputs and of its output type.
func specDisagreements(spec []models.SpecField, model, table, create, update, output []string) []string {
	var out []string
	var wantCreate, wantUpdate []string
	for _, f := range spec {
		if !slices.Contains(table, f.Column) {
			out = append(out, fmt.Sprintf("spec column %q is not a column of the table", f.Column))
		}
		if f.Input == "" {
			continue
		}
		wantCreate = append(wantCreate, f.Input)
		if !f.CreateOnly {
			wantUpdate = append(wantUpdate, f.Input)
		}
	}
	for _, c := range table {
		if !slices.Contains(model, c) {
			out = append(out, fmt.Sprintf("column %q of the table is not in the model", c))
		}
	}
	for _, c := range model {
		if !slices.Contains(table, c) {
			out = append(out, fmt.Sprintf("column %q of the model is not in the table", c))
		}
	}
	for _, in := range []struct {
		name, unmatched string
		want, got       []string
	}{{"create", "has no spec field", wantCreate, create}, {"update", "has no spec field that is not create-only", wantUpdate, update}} {
		for _, p := range in.want {
			if !slices.Contains(in.got, p) {
				out = append(out, fmt.Sprintf("spec input %q is not a field of the %s input", p, in.name))
			}
		}
		for _, p := range in.got {
			if !slices.Contains(in.want, p) {
				out = append(out, fmt.Sprintf("%s input %q %s", in.name, p, in.unmatched))
			}
		}
	}
	for _, f := range spec {
		if f.Input != "" && !slices.Contains(output, f.Input) {
			out = append(out, fmt.Sprintf("spec input %q is not a field of the output type", f.Input))
		}
	}
	return out
}

func wantProblems(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%q\nwant:\n%q", got, want)
	}
}

// fieldPaths lists a type's fields, those of nested object or input types
// as parent.child.
func fieldPaths(schema *ast.Schema, typeName, prefix string) []string {
	var out []string
	for _, f := range schema.Types[typeName].Fields {
		if nested := schema.Types[f.Type.Name()]; nested.Kind == ast.InputObject || nested.Kind == ast.Object {
			out = append(out, fieldPaths(schema, nested.Name, prefix+f.Name+".")...)
			continue
		}
		out = append(out, prefix+f.Name)
	}
	return out
}

// tableColumns reads a table's columns from the database itself.
func tableColumns(t *testing.T, d *bun.DB, table string) []string {
	t.Helper()
	rows, err := d.QueryContext(t.Context(), "SELECT * FROM "+table+" WHERE 1 = 0")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	columns, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	return columns
}

func modelColumns(d *bun.DB, model reflect.Type) []string {
	var out []string
	for _, f := range d.Table(model).Fields {
		out = append(out, f.Name)
	}
	return out
}
