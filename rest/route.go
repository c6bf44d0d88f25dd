// Package rest serves the /v1 REST contract by translating each route into
// a GraphQL operation run in-process on the same executor as /graphql.
// It holds no SQL and no business rule: only the route table, the mapping
// of path, query, header and body into variables, and response shaping.
package rest

import (
	"net/http"
	"slices"
	"strings"
)

// Source is where a Param's value comes from.
type Source int

// Param sources.
const (
	FromPath Source = iota
	FromQuery
	FromBody
	FromHeader
)

// Kind is the JSON type a query, path or header string is converted to.
type Kind int

// Param kinds.
const (
	String Kind = iota
	Int
	Bool
	// ByAgent is a breakdown=agent value: the document gets true, for an
	// @include of its per-agent part; any other value is invalid.
	ByAgent
	// EntityTag is an If-Match value: its quotes and weak prefix are
	// dropped ("*" stays), leaving the etag the schema hands out.
	EntityTag
)

// Param maps one REST input to one GraphQL variable.
type Param struct {
	Var  string // variable name in the document, without $
	From Source
	Key  string // name in the path, query, body or header, as REST clients write it
	Kind Kind
}

// Field is one name accepted by fields=, with the selection it stands for.
type Field struct {
	Name      string // REST name (created_at)
	Selection string // GraphQL selection; empty means Name itself
}

// Route is one /v1 route. The document's single root field is aliased
// "r"; the success body is r's value, written as gqlgen produced it.
type Route struct {
	Method string
	Path   string // chi pattern relative to /v1
	// Doc is the GraphQL document. When Fields is set, "{fields}" stands
	// for the selection built from fields= (or all fields).
	Doc    string
	Params []Param
	// Body names the variable that receives the whole JSON body as an input
	// object, its keys turned from snake_case to camelCase except below
	// the Opaque keys, whose values are passed as they are.
	Body   string
	Opaque []string
	// Upload names the Upload variable that receives the body as a file:
	// a raw application/octet-stream body, or the "file" part of a
	// multipart/form-data body, streamed to the resolver as it arrives.
	Upload string
	// List adds the generic list parameters limit, offset and sort as
	// variables $limit, $offset and $sort; its Doc is a listQuery.
	List   bool
	Fields []Field
	// Status is the success status; 0 means 200.
	Status int
	// Message, when set, replaces the success body with {"message": Message}.
	Message string
	// Location, when set, is a path prefix to which the result's "id" is
	// appended for the Location header (201 responses).
	Location string
	// Summary describes the route for the OpenAPI document.
	Summary string
	// Public routes need no bearer token (in the OpenAPI document).
	Public bool
	// Stream, when set, is a subscription run instead of Doc when the query
	// says follow=true, written as Server-Sent Events: each event's data is
	// r's value, whose leading "_id" member (select `_id: id` first) becomes
	// the event id. Doc runs first, so that a bad parameter or an unknown
	// resource is an ordinary error response. StreamParams are the
	// subscription's extra parameters (Last-Event-ID).
	Stream       string
	StreamParams []Param
	// DropNulls leaves null members out of the result's objects, so that
	// series not asked for are absent rather than null.
	DropNulls bool
	// Wrap, when set, answers {Wrap: result}, for contract bodies that nest
	// the result under a name the schema does not have ({"metrics": …}).
	Wrap string
	// ETag, when set, sends the result's leading "_etag" value (select
	// `_etag: etag` first) as the ETag header and leaves it out of the body.
	ETag bool
}

// ETagAlias is the alias of the etag a route with ETag selects first.
const ETagAlias = "_etag"

// listParams are the parameters every List route takes, declared once:
// listQuery writes them into the route's document, allParams maps them
// from the query, and the domain's models.ListParams.Validate checks them.
var listParams = []Param{
	{Var: "limit", From: FromQuery, Key: "limit", Kind: Int},
	{Var: "offset", From: FromQuery, Key: "offset", Kind: Int},
	{Var: "sort", From: FromQuery, Key: "sort"},
}

// listQuery returns the document of a List route: field called with the
// filters (variable definitions such as "$status: String", each passed to
// the argument of its name) and listParams, answering the page with its
// items named items, each selected as item.
func listQuery(field, items, item string, filters ...string) string {
	var defs, args []string
	for _, f := range filters {
		name, _, _ := strings.Cut(strings.TrimPrefix(f, "$"), ":")
		defs = append(defs, f)
		args = append(args, name+": $"+name)
	}
	for _, p := range listParams {
		typ := "String"
		if p.Kind == Int {
			typ = "Int"
		}
		defs = append(defs, "$"+p.Var+": "+typ)
		args = append(args, p.Var+": $"+p.Var)
	}
	return "query(" + strings.Join(defs, ", ") + ") { r: " + field + "(" + strings.Join(args, ", ") + ") { " +
		items + ": items " + item + " total limit offset has_more: hasMore } }"
}

// allParams returns Params and, for a list, listParams.
func (r Route) allParams() []Param {
	if !r.List {
		return r.Params
	}
	return append(slices.Clip(r.Params), listParams...)
}

// QueryParams returns the query parameters r accepts: its own, a list's,
// fields= and follow= where they apply. Any other is invalid_request.
func (r Route) QueryParams() []string {
	var names []string
	for _, p := range slices.Concat(r.allParams(), r.StreamParams) {
		if p.From == FromQuery {
			names = append(names, p.Key)
		}
	}
	if len(r.Fields) > 0 {
		names = append(names, "fields")
	}
	if r.Stream != "" {
		names = append(names, "follow")
	}
	return names
}

func (r Route) successStatus() int {
	if r.Status == 0 {
		return http.StatusOK
	}
	return r.Status
}
