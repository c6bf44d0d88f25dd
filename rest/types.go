package rest

import (
	"math"
	"strconv"

	"github.com/vektah/gqlparser/v2/ast"

	"github.com/neuais/neuais/models"
)

// checkJSONType checks that a value decoded from a JSON body has the JSON
// type its GraphQL input type expects. GraphQL's variable coercion accepts
// "5" for an Int and 5 for a String; the REST contract calls both a wrong
// type. path is the REST spelling of the value's place.
func checkJSONType(schema *ast.Schema, typ *ast.Type, v any, path string) *models.Error {
	if v == nil {
		if typ.NonNull {
			return models.Invalid(path, "must not be null")
		}
		return nil
	}
	if typ.Elem != nil {
		list, ok := v.([]any)
		if !ok {
			return models.Invalid(path, "must be an array")
		}
		for i, item := range list {
			if err := checkJSONType(schema, typ.Elem, item, path+"["+strconv.Itoa(i)+"]"); err != nil {
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
		if _, ok := v.(string); !ok {
			return models.Invalid(path, "must be a string")
		}
	case ast.InputObject:
		obj, ok := v.(map[string]any)
		if !ok {
			return models.Invalid(path, "must be an object")
		}
		for key, val := range obj {
			field := def.Fields.ForName(key)
			if field == nil {
				continue // unknown fields are reported by GraphQL validation
			}
			if err := checkJSONType(schema, field.Type, val, joinPath(path, snake(key))); err != nil {
				return err
			}
		}
	case ast.Scalar:
		return checkScalar(def.Name, v, path)
	}
	return nil
}

func checkScalar(name string, v any, path string) *models.Error {
	switch name {
	case "Int":
		f, ok := v.(float64)
		if !ok || f != math.Trunc(f) || f > math.MaxInt32 || f < math.MinInt32 {
			return models.Invalid(path, "must be an integer")
		}
	case "Float":
		if _, ok := v.(float64); !ok {
			return models.Invalid(path, "must be a number")
		}
	case "Boolean":
		if _, ok := v.(bool); !ok {
			return models.Invalid(path, "must be true or false")
		}
	case "String", "ID", "Time":
		if _, ok := v.(string); !ok {
			return models.Invalid(path, "must be a string")
		}
	case "Map":
		if _, ok := v.(map[string]any); !ok {
			return models.Invalid(path, "must be an object")
		}
	}
	return nil
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// wholeInts returns v with the numbers that its GraphQL type declares Int
// turned from float64 (as JSON decoded them) into int, which gqlgen's Int
// unmarshaler requires. Call it after checkJSONType.
func wholeInts(schema *ast.Schema, typ *ast.Type, v any) any {
	if v == nil || typ == nil {
		return v
	}
	if typ.Elem != nil {
		if list, ok := v.([]any); ok {
			for i, item := range list {
				list[i] = wholeInts(schema, typ.Elem, item)
			}
		}
		return v
	}
	if typ.NamedType == "Int" {
		if f, ok := v.(float64); ok {
			return int(f)
		}
		return v
	}
	def := schema.Types[typ.NamedType]
	if obj, ok := v.(map[string]any); ok && def != nil && def.Kind == ast.InputObject {
		for key, val := range obj {
			if field := def.Fields.ForName(key); field != nil {
				obj[key] = wholeInts(schema, field.Type, val)
			}
		}
	}
	return v
}
