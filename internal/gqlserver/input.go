package gqlserver

import (
	"context"
	"encoding/json"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/neuais/neuais/models"
)

// Reasons of input errors, in the client's terms; gqlparser's own
// ("must be defined", "owner is not a valid Role") name GraphQL's machinery.
const (
	ReasonRequired     = "is required"
	ReasonNotNull      = "must not be null"
	ReasonUnknownField = "is an unknown field"
)

// CheckInput reports the first place where v, a JSON value, does not fit
// the input type typ: invalid_request whose Field is the path of input
// field names and list indexes from v (empty for v itself), in the
// GraphQL spelling. Input objects are checked for unknown and missing
// fields, enums for their values, scalars for their JSON type. strict
// holds JSON types to the type's names, as REST does ("5" is not an Int,
// 5 is not a String); otherwise GraphQL's coercion rules apply.
func CheckInput(schema *ast.Schema, typ *ast.Type, v any, strict bool) *models.Error {
	return checkInput(schema, typ, v, strict, "")
}

func checkInput(schema *ast.Schema, typ *ast.Type, v any, strict bool, path string) *models.Error {
	if v == nil {
		if typ.NonNull {
			return models.Invalid(path, ReasonNotNull)
		}
		return nil
	}
	if typ.Elem != nil {
		list, ok := v.([]any)
		if !ok {
			if strict {
				return models.Invalid(path, "must be an array")
			}
			list = []any{v} // GraphQL coerces a single value to a list
		}
		for i, item := range list {
			if err := checkInput(schema, typ.Elem, item, strict, join(path, strconv.Itoa(i))); err != nil {
				return err
			}
		}
		return nil
	}
	def := schema.Types[typ.NamedType]
	if def == nil {
		return nil
	}
	switch def.Kind {
	case ast.Enum:
		s, ok := v.(string)
		if ok && slices.ContainsFunc(def.EnumValues, func(e *ast.EnumValueDefinition) bool {
			return e.Name == s || !strict && strings.EqualFold(e.Name, s)
		}) {
			return nil
		}
		names := make([]string, len(def.EnumValues))
		for i, e := range def.EnumValues {
			names[i] = e.Name
		}
		return models.Invalid(path, "must be one of "+strings.Join(names, ", "))
	case ast.InputObject:
		obj, ok := v.(map[string]any)
		if !ok {
			return models.Invalid(path, "must be an object")
		}
		for _, key := range slices.Sorted(maps.Keys(obj)) {
			if def.Fields.ForName(key) == nil && key != "__typename" {
				return models.Invalid(join(path, key), ReasonUnknownField)
			}
		}
		for _, f := range def.Fields {
			val, ok := obj[f.Name]
			if !ok {
				if f.Type.NonNull && f.DefaultValue == nil {
					return models.Invalid(join(path, f.Name), ReasonRequired)
				}
				continue
			}
			if err := checkInput(schema, f.Type, val, strict, join(path, f.Name)); err != nil {
				return err
			}
		}
	case ast.Scalar:
		if reason := scalarReason(def.Name, v, strict); reason != "" {
			return models.Invalid(path, reason)
		}
	}
	return nil
}

// scalarReason says why v is not a value of the named scalar, or "".
// Custom scalars check their own values when they are decoded.
func scalarReason(name string, v any, strict bool) string {
	switch name {
	case "Int":
		if n, ok := number(v, strict); !ok || n != math.Trunc(n) || n > math.MaxInt32 || n < math.MinInt32 {
			return "must be an integer"
		}
	case "Float":
		if _, ok := number(v, strict); !ok {
			return "must be a number"
		}
	case "Boolean":
		if _, ok := v.(bool); !ok {
			return "must be true or false"
		}
	case "String", "ID", "Time":
		_, isString := v.(string)
		if _, isNumber := v.(json.Number); isNumber && !strict {
			isString = true
		}
		if f, isFloat := v.(float64); name == "ID" && !strict && isFloat && f == math.Trunc(f) {
			isString = true
		}
		if !isString {
			return "must be a string"
		}
	case "Map":
		if _, ok := v.(map[string]any); !ok {
			return "must be an object"
		}
	}
	return ""
}

// number returns v as a number: JSON numbers, and under GraphQL's rules
// also Go integers and numeric strings.
func number(v any, strict bool) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	}
	if strict {
		return 0, false
	}
	switch v := v.(type) {
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case string:
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	}
	return 0, false
}

func join(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// CheckVariables checks an operation's variables, as sent, against their
// definitions under GraphQL's rules; Field starts with the variable's name
// (input.role).
func CheckVariables(schema *ast.Schema, op *ast.OperationDefinition, vars map[string]any) *models.Error {
	for _, def := range op.VariableDefinitions {
		v, ok := vars[def.Variable]
		if !ok {
			if def.Type.NonNull && def.DefaultValue == nil {
				return models.Invalid(def.Variable, ReasonRequired)
			}
			continue
		}
		if err := checkInput(schema, def.Type, v, false, def.Variable); err != nil {
			return err
		}
	}
	return nil
}

// rawVariablesKey keeps an operation's variables as sent in its stats,
// for the error presenter: after a failed coercion gqlgen keeps none.
const rawVariablesKey = "neuais.rawVariables"

// KeepVariables is the extension that keeps each operation's variables as
// sent, so that the error presenter can say what is wrong with them.
func KeepVariables() graphql.HandlerExtension { return keepVariables{} }

type keepVariables struct{}

func (keepVariables) ExtensionName() string                   { return "KeepVariables" }
func (keepVariables) Validate(graphql.ExecutableSchema) error { return nil }
func (keepVariables) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	graphql.GetOperationContext(ctx).Stats.SetExtension(rawVariablesKey, p.Variables)
	return nil
}

// variableError restates a failed variable coercion in client terms, from
// the operation and its variables as sent; nil when they are not at hand
// or the check finds nothing (then gqlparser's own words stand).
func variableError(ctx context.Context, schema *ast.Schema) *models.Error {
	if !graphql.HasOperationContext(ctx) {
		return nil
	}
	oc := graphql.GetOperationContext(ctx)
	vars, _ := oc.Stats.GetExtension(rawVariablesKey).(map[string]any)
	if oc.Operation == nil {
		return nil
	}
	return CheckVariables(schema, oc.Operation, vars)
}
