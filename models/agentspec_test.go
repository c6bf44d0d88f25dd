package models_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/neuais/neuais/models"
)

// differ sets v, a field, to a value other than its zero one.
func differ(t *testing.T, v reflect.Value) {
	t.Helper()
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Float64:
		v.SetFloat(v.Float() + 1)
	case reflect.Slice:
		v.Set(reflect.Append(v, reflect.New(v.Type().Elem()).Elem()))
	case reflect.Map:
		v.Set(reflect.ValueOf(map[string]string{"K": "v"}))
	default:
		t.Fatalf("no differing value for a %s", v.Type())
	}
}

func TestSpecChanges(t *testing.T) {
	base := models.Agent{Name: "a", Runtime: "go", BinaryURL: "https://example.com/a", CPU: "0.5", Memory: "512Mi", Replicas: 1}
	t.Run("OK", func(t *testing.T) {
		same := base
		same.Environment = map[string]string{} // as read: an empty environment is none
		same.Status, same.Version, same.SealedEnvironment = models.AgentRunning, 7, "sealed"
		if got := same.SpecChanges(&base); got != nil {
			t.Errorf("changes = %q, want none", got)
		}
	})
	for _, f := range models.AgentSpec() {
		t.Run(f.Field, func(t *testing.T) {
			changed := base
			differ(t, reflect.ValueOf(&changed).Elem().FieldByName(f.Field))
			got := changed.SpecChanges(&base)
			switch {
			case f.Input == "" && got != nil:
				t.Errorf("derived %s: changes = %q, want none", f.Column, got)
			case f.Input != "" && len(got) != 1:
				t.Errorf("changes = %q, want one", got)
			}
		})
	}
	t.Run("names as clients write them", func(t *testing.T) {
		changed := base
		changed.BinaryURL, changed.CPU = "https://example.com/b", "1"
		if got, want := changed.SpecChanges(&base), []string{"binary_url", "config.cpu"}; !slices.Equal(got, want) {
			t.Errorf("changes = %q, want %q", got, want)
		}
	})
}

// TestAgentWriteColumns checks the columns a change writes: the sealed
// environment's and the derived binary's, never what the create fixes
// or the runtime's status.
func TestAgentWriteColumns(t *testing.T) {
	got := models.AgentWriteColumns()
	for _, c := range []string{"environment", "binary_id", "replicas", "desired", "generation", "version", "updated_at"} {
		if !slices.Contains(got, c) {
			t.Errorf("%q is not written", c)
		}
	}
	for _, c := range []string{"name", "region", "status", "status_reason", "created_at"} {
		if slices.Contains(got, c) {
			t.Errorf("%q is written", c)
		}
	}
	got[0] = "changed"
	if models.AgentWriteColumns()[0] == "changed" {
		t.Error("a caller's change reached the next caller")
	}
}

// TestRunSpecSameTemplate checks that every field of RunSpec but the ids,
// the generation and the replica count is part of the template, so that a
// field added for the runtime cannot be forgotten there.
func TestRunSpecSameTemplate(t *testing.T) {
	notTemplate := []string{"AgentID", "OrgID", "Generation", "Replicas"}
	base := (&models.Agent{ID: "agt_1", Name: "a", CPU: "0.5", Memory: "512Mi", Replicas: 1, Generation: 1}).RunSpec("/bin/a")
	if !base.SameTemplate(base) {
		t.Fatal("a spec differs from itself")
	}
	for _, f := range reflect.VisibleFields(reflect.TypeFor[models.RunSpec]()) {
		t.Run(f.Name, func(t *testing.T) {
			changed := base
			differ(t, reflect.ValueOf(&changed).Elem().FieldByIndex(f.Index))
			if want := slices.Contains(notTemplate, f.Name); base.SameTemplate(changed) != want {
				t.Errorf("SameTemplate after a change of %s = %v, want %v", f.Name, !want, want)
			}
		})
	}
}

func TestSpecFieldsErrors(t *testing.T) {
	type unknown struct {
		A string `bun:"a" spec:"a,often"`
	}
	type derivedWithInput struct {
		A string `bun:"a" spec:"a,derived"`
	}
	type sealedAlone struct {
		A map[string]string `bun:"-" spec:"a,sealed"`
	}
	type noColumn struct {
		A string `bun:"-" spec:"a"`
	}
	for name, typ := range map[string]reflect.Type{
		"unknown option":     reflect.TypeFor[unknown](),
		"derived with input": reflect.TypeFor[derivedWithInput](),
		"sealed alone":       reflect.TypeFor[sealedAlone](),
		"no column":          reflect.TypeFor[noColumn](),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := models.SpecFields(typ); err == nil {
				t.Error("no error")
			}
		})
	}
}
