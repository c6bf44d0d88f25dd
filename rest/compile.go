package rest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/neuais/neuais/models"
)

// endpoint is a Route compiled once, at start: its operation and stream
// with their documents parsed and validated and their parameters bound to
// the variables' types, the query parameters it accepts, and the shapers
// that turn a result into the response body. A request only fills in
// variables and runs it.
type endpoint struct {
	route  *Route
	op     operation
	stream *operation // follow=true; nil when the route has no Stream
	// query lists the accepted query parameters, in the order the
	// invalid_request message names them.
	query   []string
	shapers []shaper
	// eventShapers shape each event of the stream, after its "_id" is cut.
	eventShapers []shaper
	status       int
}

// operation is one GraphQL document and how a request fills its variables.
type operation struct {
	doc *document // every field selected
	// docs holds the fields= documents; nil when the route has no Fields.
	docs   *documents
	params []param
	// body is the variable that takes the whole JSON body; nil when the
	// body, if any, is read into FromBody params only.
	body      *param
	readsBody bool
	opaque    []string
	// names spells each variable for REST (idempotencyKey →
	// Idempotency-Key), for the fields of errors.
	names map[string]string
}

// param is a Param bound to its variable's type.
type param struct {
	Param
	typ      *ast.Type
	required bool // non-null without a default
}

// document is a document's text with its parsed and validated form, which
// the executor takes from the context instead of parsing the text again.
type document struct {
	text   string
	parsed *ast.QueryDocument
}

// shaper turns a result into (part of) the response body; it may set h.
type shaper func(h http.Header, result json.RawMessage) json.RawMessage

// compile builds route's endpoint; it fails when a document does not
// validate against schema or a parameter names no variable.
func compile(schema *ast.Schema, route *Route) (*endpoint, error) {
	e := &endpoint{route: route, query: route.QueryParams(), status: route.successStatus()}
	var err error
	if e.op, err = compileOperation(schema, route.Doc, route.Fields, route.allParams(), route.Body, route.Opaque); err != nil {
		return nil, err
	}
	if route.Upload != "" && e.op.doc.parsed.Operations[0].VariableDefinitions.ForName(route.Upload) == nil {
		return nil, fmt.Errorf("upload names no variable %s", route.Upload)
	}
	if route.Stream != "" {
		// A list's paging and fields= apply to its first page, not to the stream.
		stream, err := compileOperation(schema, route.Stream, nil, slices.Concat(route.Params, route.StreamParams), "", route.Opaque)
		if err != nil {
			return nil, fmt.Errorf("stream: %w", err)
		}
		e.stream = &stream
	}
	if route.DropNulls {
		e.shapers = append(e.shapers, shapeDropNulls)
		e.eventShapers = append(e.eventShapers, shapeDropNulls)
	}
	if route.Wrap != "" {
		e.shapers = append(e.shapers, shapeWrap(route.Wrap))
	}
	if route.ETag {
		e.shapers = append(e.shapers, shapeETag)
	}
	if route.Location != "" {
		e.shapers = append(e.shapers, shapeLocation("/v1"+route.Location))
	}
	if route.Message != "" {
		e.shapers = append(e.shapers, shapeMessage(route.Message))
	}
	return e, nil
}

func compileOperation(schema *ast.Schema, text string, fields []Field, params []Param, bodyVar string, opaque []string) (operation, error) {
	op := operation{opaque: opaque, names: map[string]string{}}
	if len(fields) > 0 {
		op.docs = &documents{schema: schema, template: text, fields: fields, byFields: map[string]*document{}}
		sel, _ := selection(fields, "")
		text = op.docs.text(sel)
	}
	var err error
	if op.doc, err = parse(schema, text); err != nil {
		return operation{}, err
	}
	if op.docs != nil {
		op.docs.byFields[""] = op.doc
	}
	defs := op.doc.parsed.Operations[0].VariableDefinitions
	bind := func(p Param) (param, error) {
		def := defs.ForName(p.Var)
		if def == nil {
			return param{}, fmt.Errorf("parameter %s names no variable", p.Var)
		}
		return param{Param: p, typ: def.Type, required: def.Type.NonNull && def.DefaultValue == nil}, nil
	}
	for _, p := range params {
		bound, err := bind(p)
		if err != nil {
			return operation{}, err
		}
		op.params = append(op.params, bound)
		op.names[p.Var] = p.Key
		op.readsBody = op.readsBody || p.From == FromBody
	}
	if bodyVar != "" {
		body, err := bind(Param{Var: bodyVar, From: FromBody})
		if err != nil {
			return operation{}, fmt.Errorf("body: %w", err)
		}
		op.body = &body
		op.readsBody = true
	}
	return op, nil
}

// parse parses and validates text against schema; it must hold one operation.
func parse(schema *ast.Schema, text string) (*document, error) {
	parsed, errs := gqlparser.LoadQueryWithRules(schema, text, nil)
	if errs != nil {
		return nil, errs
	}
	if len(parsed.Operations) != 1 {
		return nil, fmt.Errorf("document must hold one operation")
	}
	return &document{text: text, parsed: parsed}, nil
}

// documents holds an operation's documents by fields= value, up to
// maxDocuments; further combinations are built per request.
type documents struct {
	schema   *ast.Schema
	template string // the document with "{fields}" for the selection
	fields   []Field
	mu       sync.RWMutex
	byFields map[string]*document
}

const maxDocuments = 256

func (d *documents) text(sel string) string {
	return strings.Replace(d.template, "{fields}", sel, 1)
}

// get returns the document of a fields= value ("" for every field).
func (d *documents) get(fields string) (*document, *models.Error) {
	d.mu.RLock()
	doc, ok := d.byFields[fields]
	d.mu.RUnlock()
	if ok {
		return doc, nil
	}
	sel, coded := selection(d.fields, fields)
	if coded != nil {
		return nil, coded
	}
	// A selection of declared fields is part of the document validated at
	// start, so this cannot fail but through a bug.
	doc, err := parse(d.schema, d.text(sel))
	if err != nil {
		return nil, models.Errorf(models.CodeInternal, "internal server error")
	}
	d.mu.Lock()
	if len(d.byFields) < maxDocuments {
		d.byFields[fields] = doc
	}
	d.mu.Unlock()
	return doc, nil
}

type documentKey struct{}

// withDocument returns ctx carrying doc for the executor's query cache.
func withDocument(ctx context.Context, doc *document) context.Context {
	return context.WithValue(ctx, documentKey{}, doc)
}

// compiledDocuments is the REST executor's query cache: every document
// REST runs was parsed and validated by compile or documents.get and comes
// with the operation in its context, so nothing is parsed or looked up by
// text per request, and nothing is added.
type compiledDocuments struct{}

func (compiledDocuments) Get(ctx context.Context, query string) (*ast.QueryDocument, bool) {
	doc, ok := ctx.Value(documentKey{}).(*document)
	if !ok || doc.text != query {
		return nil, false
	}
	return doc.parsed, true
}

func (compiledDocuments) Add(context.Context, string, *ast.QueryDocument) {}

func shapeDropNulls(_ http.Header, result json.RawMessage) json.RawMessage {
	return dropNulls(result)
}

// shapeWrap answers {name: result}, for contract bodies that nest the
// result under a name the schema does not have ({"metrics": …}).
func shapeWrap(name string) shaper {
	key, _ := json.Marshal(name)
	prefix := append(append([]byte{'{'}, key...), ':')
	return func(_ http.Header, result json.RawMessage) json.RawMessage {
		out := make(json.RawMessage, 0, len(prefix)+len(result)+1)
		return append(append(append(out, prefix...), result...), '}')
	}
}

// shapeETag sends the result's leading "_etag" as the ETag header and
// leaves it out of the body.
func shapeETag(h http.Header, result json.RawMessage) json.RawMessage {
	etag, result := cutLeading(result, ETagAlias)
	if etag != "" {
		h.Set("ETag", strconv.Quote(etag))
	}
	return result
}

// shapeLocation sets the Location header to prefix followed by the
// result's "id".
func shapeLocation(prefix string) shaper {
	return func(h http.Header, result json.RawMessage) json.RawMessage {
		var created struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(result, &created) == nil && created.ID != "" {
			h.Set("Location", prefix+created.ID)
		}
		return result
	}
}

// shapeMessage replaces the body with {"message": message}.
func shapeMessage(message string) shaper {
	body, _ := json.Marshal(map[string]string{"message": message})
	body = append(body, '\n')
	return func(http.Header, json.RawMessage) json.RawMessage { return body }
}
