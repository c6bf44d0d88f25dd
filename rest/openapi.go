package rest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// fieldsMarker marks the selection set that fields= fills, so that its
// members are documented as optional.
const fieldsMarker = "_fields"

type object = map[string]any

// OpenAPI returns the OpenAPI 3.1 document of routes, derived from each
// route's GraphQL document and the schema: response bodies from the
// selection sets (aliases are the JSON names), request bodies from input
// types, parameters from the variables' types.
func OpenAPI(schema *ast.Schema, routes []Route) ([]byte, error) {
	paths := object{}
	for _, route := range routes {
		op, err := operationObject(schema, route)
		if err != nil {
			return nil, fmt.Errorf("rest: openapi: %s %s: %w", route.Method, route.Path, err)
		}
		item, _ := paths[route.Path].(object)
		if item == nil {
			item = object{}
			paths[route.Path] = item
		}
		item[strings.ToLower(route.Method)] = op
	}
	doc := object{
		"openapi": "3.1.0",
		"info": object{
			"title":       "neuais REST API",
			"version":     "1.0.0",
			"description": "The /v1 compatibility layer; every route runs a GraphQL operation of the same server.",
		},
		"servers": []any{object{"url": "/v1"}},
		"paths":   paths,
		"components": object{
			"securitySchemes": object{"bearerAuth": object{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
			"schemas": object{"Error": object{
				"type":                 "object",
				"required":             []string{"error"},
				"additionalProperties": false,
				"properties": object{"error": object{
					"type":                 "object",
					"required":             []string{"code", "message", "details"},
					"additionalProperties": false,
					"properties": object{
						"code":    object{"type": "string"},
						"message": object{"type": "string"},
						"details": object{"type": "object"},
					},
				}},
			}},
		},
	}
	return json.Marshal(doc)
}

func operationObject(schema *ast.Schema, route Route) (object, error) {
	src := route.Doc
	if len(route.Fields) > 0 {
		sel, _ := selection(route.Fields, "")
		src = strings.Replace(src, "{fields}", fieldsMarker+": __typename "+sel, 1)
	}
	doc, errs := gqlparser.LoadQueryWithRules(schema, src, nil)
	if errs != nil {
		return nil, errs
	}
	op := doc.Operations[0]
	root, ok := op.SelectionSet[0].(*ast.Field)
	if !ok {
		return nil, fmt.Errorf("root selection is not a field")
	}
	vars := map[string]*ast.VariableDefinition{}
	for _, v := range op.VariableDefinitions {
		vars[v.Variable] = v
	}
	operationID := strings.ToLower(route.Method)
	for _, seg := range strings.Split(strings.Trim(route.Path, "/"), "/") {
		seg = strings.Trim(seg, "{}")
		operationID += strings.ToUpper(seg[:1]) + camel(seg)[1:]
	}
	out := object{
		"operationId": operationID,
		"summary":     route.Summary,
		"responses":   responses(schema, route, root),
	}
	if root.Definition != nil && root.Definition.Description != "" {
		out["description"] = root.Definition.Description
	}
	if !route.Public {
		out["security"] = []any{object{"bearerAuth": []string{}}}
	}
	params := route.allParams()
	var parameters []any
	body := object{"type": "object", "properties": object{}, "additionalProperties": false}
	var bodyRequired []string
	for _, p := range params {
		v := vars[p.Var]
		if v == nil {
			return nil, fmt.Errorf("parameter %s names no variable", p.Var)
		}
		required := v.Type.NonNull && v.DefaultValue == nil
		if p.From == FromBody {
			body["properties"].(object)[p.Key] = typeSchema(schema, v.Type, nil)
			if required {
				bodyRequired = append(bodyRequired, p.Key)
			}
			continue
		}
		param := object{"name": p.Key, "in": map[Source]string{FromPath: "path", FromQuery: "query", FromHeader: "header"}[p.From]}
		s := object{"type": "string"}
		if p.Kind == Int {
			s = object{"type": "integer"}
		} else if p.Kind == Bool {
			s = object{"type": "boolean"}
		} else if p.Kind == ByAgent {
			s = object{"type": "string", "enum": []string{"agent"}}
		}
		param["schema"] = s
		if required || p.From == FromPath {
			param["required"] = true
		}
		parameters = append(parameters, param)
	}
	if len(route.Fields) > 0 {
		names := make([]string, len(route.Fields))
		for i, f := range route.Fields {
			names[i] = f.Name
		}
		parameters = append(parameters, object{"name": "fields", "in": "query", "schema": object{"type": "string"},
			"description": "Comma-separated fields of each item: " + strings.Join(names, ", ")})
	}
	if route.Stream != "" {
		parameters = append(parameters,
			object{"name": "follow", "in": "query", "schema": object{"type": "boolean"}, "description": "Stream as Server-Sent Events"},
			object{"name": "Last-Event-ID", "in": "header", "schema": object{"type": "string"}, "description": "With follow=true: resume after this event id"})
	}
	if parameters != nil {
		out["parameters"] = parameters
	}
	switch {
	case route.Upload != "":
		file := object{"type": "string", "format": "binary"}
		out["requestBody"] = object{"required": true, "content": object{
			"application/octet-stream": object{"schema": file},
			"multipart/form-data":      object{"schema": object{"type": "object", "required": []string{"file"}, "properties": object{"file": file}}},
		}}
	case route.Body != "":
		v := vars[route.Body]
		if v == nil {
			return nil, fmt.Errorf("body names no variable")
		}
		out["requestBody"] = object{"required": true, "content": object{"application/json": object{"schema": inputSchema(schema, v.Type, route.Opaque, false)}}}
	case len(body["properties"].(object)) > 0:
		if bodyRequired != nil {
			body["required"] = bodyRequired
		}
		out["requestBody"] = object{"required": bodyRequired != nil, "content": object{"application/json": object{"schema": body}}}
	}
	return out, nil
}

func responses(schema *ast.Schema, route Route, root *ast.Field) object {
	var body object
	if route.Message != "" {
		body = object{"type": "object", "required": []string{"message"}, "additionalProperties": false,
			"properties": object{"message": object{"type": "string", "const": route.Message}}}
	} else {
		body = outputSchema(schema, root.Definition.Type, root.SelectionSet, route.ETag)
	}
	if route.DropNulls {
		dropNullsSchema(body)
	}
	if route.Wrap != "" {
		body = object{"type": "object", "required": []string{route.Wrap}, "additionalProperties": false,
			"properties": object{route.Wrap: body}}
	}
	content := object{"application/json": object{"schema": body}}
	if route.Stream != "" {
		content["text/event-stream"] = object{"schema": object{"type": "string",
			"description": "With follow=true: one event per item, its id the item's id, then a final `error` event when the stream ends for a reason"}}
	}
	ok := object{"description": http.StatusText(route.successStatus()), "content": content}
	headers := object{}
	if route.ETag {
		headers["ETag"] = object{"description": "Version of the resource, for If-Match", "schema": object{"type": "string"}}
	}
	if route.Location != "" {
		headers["Location"] = object{"description": "URL of the created resource", "schema": object{"type": "string"}}
	}
	if len(headers) > 0 {
		ok["headers"] = headers
	}
	return object{
		fmt.Sprint(route.successStatus()): ok,
		"default": object{"description": "An error; the code decides the status", "content": object{"application/json": object{
			"schema": object{"$ref": "#/components/schemas/Error"}}}},
	}
}

// outputSchema describes a value of typ written with selections. skipETag
// leaves out the leading etag alias, which goes to the header.
func outputSchema(schema *ast.Schema, typ *ast.Type, selections ast.SelectionSet, skipETag bool) object {
	if typ.Elem != nil {
		return nullable(object{"type": "array", "items": outputSchema(schema, typ.Elem, selections, false)}, typ)
	}
	def := schema.Types[typ.NamedType]
	if def == nil || (def.Kind != ast.Object && def.Kind != ast.Interface) {
		return typeSchema(schema, typ, def)
	}
	props := object{}
	var required []string
	optional := false
	for _, sel := range selections {
		f, ok := sel.(*ast.Field)
		if !ok || (skipETag && f.Alias == ETagAlias) {
			continue
		}
		if f.Alias == fieldsMarker {
			optional = true
			continue
		}
		s := outputSchema(schema, f.Definition.Type, f.SelectionSet, false)
		if f.Definition.Description != "" {
			s["description"] = f.Definition.Description
		}
		props[f.Alias] = s
		// A field under @include or @skip is there only when asked for.
		if f.Directives.ForName("include") == nil && f.Directives.ForName("skip") == nil {
			required = append(required, f.Alias)
		}
	}
	out := object{"type": "object", "properties": props, "additionalProperties": false}
	if !optional && required != nil {
		out["required"] = required
	}
	return nullable(out, typ)
}

// inputSchema describes an input value as REST clients write it: snake_case
// names, values below opaque keys as they are.
func inputSchema(schema *ast.Schema, typ *ast.Type, opaque []string, isOpaque bool) object {
	if typ.Elem != nil {
		return nullable(object{"type": "array", "items": inputSchema(schema, typ.Elem, opaque, isOpaque)}, typ)
	}
	def := schema.Types[typ.NamedType]
	if def == nil || def.Kind != ast.InputObject || isOpaque {
		return typeSchema(schema, typ, def)
	}
	props := object{}
	var required []string
	for _, f := range def.Fields {
		name := snake(f.Name)
		s := inputSchema(schema, f.Type, opaque, slices.Contains(opaque, name))
		if f.Description != "" {
			s["description"] = f.Description
		}
		props[name] = s
		if f.Type.NonNull && f.DefaultValue == nil {
			required = append(required, name)
		}
	}
	out := object{"type": "object", "properties": props, "additionalProperties": false}
	if required != nil {
		out["required"] = required
	}
	return nullable(out, typ)
}

// typeSchema describes a scalar or enum.
func typeSchema(schema *ast.Schema, typ *ast.Type, def *ast.Definition) object {
	if def == nil {
		def = schema.Types[typ.NamedType]
	}
	var s object
	switch {
	case typ.Elem != nil:
		return nullable(object{"type": "array", "items": typeSchema(schema, typ.Elem, nil)}, typ)
	case def != nil && def.Kind == ast.Enum:
		values := make([]string, len(def.EnumValues))
		for i, v := range def.EnumValues {
			values[i] = v.Name
		}
		s = object{"type": "string", "enum": values}
	default:
		switch typ.NamedType {
		case "Int":
			s = object{"type": "integer"}
		case "Float", "Quantity":
			s = object{"type": "number"}
		case "Money":
			s = object{"type": "number", "multipleOf": 0.01}
		case "Boolean":
			s = object{"type": "boolean"}
		case "Time":
			s = object{"type": "string", "format": "date-time"}
		case "Map":
			s = object{"type": "object"}
		default:
			s = object{"type": "string"}
		}
	}
	return nullable(s, typ)
}

// dropNullsSchema describes what DropNulls leaves of s: a member that may be
// null is instead optional and never null, in s and the objects under it
// but not in arrays, which dropNulls keeps as they are.
func dropNullsSchema(s object) {
	props, _ := s["properties"].(object)
	if len(props) == 0 {
		return
	}
	required, _ := s["required"].([]string)
	var kept []string
	for _, name := range required {
		if p, _ := props[name].(object); !isNullable(p) {
			kept = append(kept, name)
		}
	}
	if kept == nil {
		delete(s, "required")
	} else {
		s["required"] = kept
	}
	for _, p := range props {
		p := p.(object)
		if types, ok := p["type"].([]any); ok && isNullable(p) {
			p["type"] = types[0]
			if enum, ok := p["enum"].([]any); ok {
				p["enum"] = enum[:len(enum)-1]
			}
		}
		dropNullsSchema(p)
	}
}

// isNullable reports whether nullable made s.
func isNullable(s object) bool {
	types, ok := s["type"].([]any)
	return ok && len(types) == 2 && types[1] == "null"
}

// nullable lets s be null when typ is nullable.
func nullable(s object, typ *ast.Type) object {
	if typ.NonNull {
		return s
	}
	if enum, ok := s["enum"].([]string); ok {
		s["enum"] = append(slices.Clip(anySlice(enum)), nil)
	}
	s["type"] = []any{s["type"], "null"}
	return s
}

func anySlice(in []string) []any {
	out := make([]any, len(in))
	for i, v := range in {
		out[i] = v
	}
	return out
}
