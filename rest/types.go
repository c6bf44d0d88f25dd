package rest

import "github.com/vektah/gqlparser/v2/ast"

// wholeInts returns v with the numbers that its GraphQL type declares Int
// turned from float64 (as JSON decoded them) into int, which gqlgen's Int
// unmarshaler requires. Call it after gqlserver.CheckInput.
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
