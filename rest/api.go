package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/neuais/neuais/internal/gqlserver"
	"github.com/neuais/neuais/models"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 1 << 20

// API serves the route table on one executor.
type API struct {
	exec   *executor.Executor
	schema *ast.Schema
	routes []Route
	// vars and streamVars hold each route's variable definitions, from
	// its document and its stream's, parsed and validated against the
	// schema once, at start.
	vars       map[*Route]map[string]*ast.VariableDefinition
	streamVars map[*Route]map[string]*ast.VariableDefinition
	// docs holds each fields= route's documents by fields= value, built
	// at the first request that asks for it.
	docs    map[*Route]*documents
	openapi []byte
	logger  *slog.Logger
	uploads gqlserver.UploadLimits
}

// New returns the REST API over exec and its schema; uploads bound how
// slowly an Upload route's body may arrive. It fails when a route's
// document does not validate against the schema. Mount its Handler under /v1.
func New(exec *executor.Executor, schema *ast.Schema, routes []Route, uploads gqlserver.UploadLimits, logger *slog.Logger) (*API, error) {
	a := &API{exec: exec, schema: schema, routes: routes, vars: map[*Route]map[string]*ast.VariableDefinition{},
		streamVars: map[*Route]map[string]*ast.VariableDefinition{}, docs: map[*Route]*documents{}, logger: logger, uploads: uploads}
	for i := range a.routes {
		route := &a.routes[i]
		doc, err := gqlparser.LoadQueryWithRules(schema, defaultDocument(*route), nil)
		if err != nil {
			return nil, fmt.Errorf("rest: %s %s: %w", route.Method, route.Path, err)
		}
		if len(doc.Operations) != 1 {
			return nil, fmt.Errorf("rest: %s %s: document must hold one operation", route.Method, route.Path)
		}
		a.vars[route] = variables(doc)
		if len(route.Fields) > 0 {
			a.docs[route] = &documents{byFields: map[string]string{"": defaultDocument(*route)}}
		}
		if route.Stream != "" {
			stream, err := gqlparser.LoadQueryWithRules(schema, route.Stream, nil)
			if err != nil {
				return nil, fmt.Errorf("rest: %s %s stream: %w", route.Method, route.Path, err)
			}
			a.streamVars[route] = variables(stream)
		}
	}
	var err error
	if a.openapi, err = OpenAPI(schema, routes); err != nil {
		return nil, err
	}
	return a, nil
}

func variables(doc *ast.QueryDocument) map[string]*ast.VariableDefinition {
	defs := map[string]*ast.VariableDefinition{}
	for _, v := range doc.Operations[0].VariableDefinitions {
		defs[v.Variable] = v
	}
	return defs
}

// defaultDocument returns route's document with every field selected.
func defaultDocument(route Route) string {
	if len(route.Fields) == 0 {
		return route.Doc
	}
	sel, _ := selection(route.Fields, "")
	return strings.Replace(route.Doc, "{fields}", sel, 1)
}

// Routes returns the route table.
func (a *API) Routes() []Route { return a.routes }

// Handler returns the router of every route and GET /openapi.json, with
// the contract's 404 and 405 envelopes.
func (a *API) Handler() http.Handler {
	r := chi.NewRouter()
	// HEAD is served wherever GET is; net/http drops the body.
	r.Use(middleware.GetHead)
	r.NotFound(func(w http.ResponseWriter, _ *http.Request) {
		WriteError(w, models.Errorf(models.CodeNotFound, "No such route"))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Allow", strings.Join(allowed(r, req), ", "))
		WriteError(w, models.Errorf(models.CodeMethodNotAllowed, "Method %s is not allowed on this route", req.Method))
	})
	for i := range a.routes {
		r.Method(a.routes[i].Method, a.routes[i].Path, a.serve(&a.routes[i]))
	}
	r.Get("/openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(a.openapi)
	})
	return r
}

// allowed returns the methods router serves on req's path, for the Allow
// header of a 405.
func allowed(router chi.Routes, req *http.Request) []string {
	path := req.URL.Path
	if rctx := chi.RouteContext(req.Context()); rctx != nil && rctx.RoutePath != "" {
		path = rctx.RoutePath
	}
	var methods []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete} {
		served := router.Match(chi.NewRouteContext(), m, path)
		if m == http.MethodHead {
			served = slices.Contains(methods, http.MethodGet)
		}
		if served {
			methods = append(methods, m)
		}
	}
	return methods
}

func (a *API) serve(route *Route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := checkQuery(route, r); err != nil {
			WriteError(w, err)
			return
		}
		follow, err := a.follows(route, r)
		if err != nil {
			WriteError(w, err)
			return
		}
		doc, vars, err := a.Translate(route, r)
		if err != nil {
			WriteError(w, err)
			return
		}
		if route.Upload != "" {
			if vars[route.Upload], err = a.uploadBody(w, r); err != nil {
				WriteError(w, err)
				return
			}
		}
		resp := a.Execute(r.Context(), doc, vars)
		if len(resp.Errors) > 0 {
			WriteError(w, ErrorFromGraphQL(*route, resp.Errors[0]))
			return
		}
		if follow {
			a.stream(route, w, r)
			return
		}
		result := resultOf(resp.Data)
		if route.DropNulls {
			result = dropNulls(result)
		}
		if route.Wrap != "" {
			result = wrap(route.Wrap, result)
		}
		if route.ETag {
			var etag string
			if etag, result = cutETag(result); etag != "" {
				w.Header().Set("ETag", strconv.Quote(etag))
			}
		}
		if route.Location != "" {
			var created struct {
				ID string `json:"id"`
			}
			if json.Unmarshal(result, &created) == nil && created.ID != "" {
				w.Header().Set("Location", "/v1"+route.Location+created.ID)
			}
		}
		if route.Message != "" {
			writeJSON(w, route.successStatus(), map[string]string{"message": route.Message})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(route.successStatus())
		_, _ = w.Write(result)
	}
}

// Execute runs one operation in-process with ctx's identity.
func (a *API) Execute(ctx context.Context, doc string, vars map[string]any) *graphql.Response {
	ctx = graphql.StartOperationTrace(ctx)
	params := &graphql.RawParams{Query: doc, Variables: vars, ReadTime: graphql.TraceTiming{Start: graphql.Now(), End: graphql.Now()}}
	opCtx, errs := a.exec.CreateOperationContext(ctx, params)
	if errs != nil {
		return a.exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), errs)
	}
	responses, ctx := a.exec.DispatchOperation(ctx, opCtx)
	return responses(ctx)
}

// resultOf returns the value of the root alias r in data, or data itself
// when it holds none (null).
func resultOf(data json.RawMessage) json.RawMessage {
	const prefix = `{"r":`
	if bytes.HasPrefix(data, []byte(prefix)) && bytes.HasSuffix(data, []byte("}")) {
		return data[len(prefix) : len(data)-1]
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return data
	}
	if r, ok := m["r"]; ok {
		return r
	}
	return data
}

// cutETag removes the leading {"_etag":"…", member of an object written
// by gqlgen and returns its value.
func cutETag(result json.RawMessage) (string, json.RawMessage) {
	return cutLeading(result, ETagAlias)
}

// cutLeading removes the leading string member alias of an object written
// by gqlgen and returns its value; gqlgen writes members in selection
// order, so this costs no decoding.
func cutLeading(result json.RawMessage, alias string) (string, json.RawMessage) {
	prefix := `{"` + alias + `":"`
	if !bytes.HasPrefix(result, []byte(prefix)) {
		return "", result
	}
	rest := result[len(prefix):]
	end := bytes.IndexAny(rest, `"\`)
	if end < 0 || rest[end] != '"' {
		return "", result
	}
	etag := string(rest[:end])
	rest = rest[end+1:]
	if len(rest) > 0 && rest[0] == ',' {
		rest = rest[1:]
	}
	out := make(json.RawMessage, 0, len(rest)+1)
	out = append(append(out, '{'), rest...)
	return etag, out
}

// Translate builds the operation document and variables of route for r.
// Every value is checked against its variable's type first (required,
// JSON type, enum values, unknown fields), so that errors are
// invalid_request naming the parameter as the client wrote it, in the
// client's terms, and gqlgen's coercion errors never reach REST.
func (a *API) Translate(route *Route, r *http.Request) (string, map[string]any, *models.Error) {
	return a.translate(route, a.vars[route], r)
}

// translate is Translate with the variable definitions of route's document.
func (a *API) translate(route *Route, defs map[string]*ast.VariableDefinition, r *http.Request) (string, map[string]any, *models.Error) {
	vars := map[string]any{}
	doc := route.Doc
	if len(route.Fields) > 0 {
		var err *models.Error
		if doc, err = a.docs[route].get(route, r.URL.Query().Get("fields")); err != nil {
			return "", nil, err
		}
	}
	params := route.allParams()
	var body map[string]any
	if route.Body != "" || hasBodyParams(params) {
		var err *models.Error
		if body, err = readBody(r); err != nil {
			return "", nil, err
		}
	}
	for _, p := range params {
		def := defs[p.Var]
		var raw string
		var present bool
		switch p.From {
		case FromPath:
			raw = chi.URLParam(r, p.Key)
			present = true
		case FromQuery:
			raw = r.URL.Query().Get(p.Key)
			present = raw != ""
		case FromHeader:
			raw = r.Header.Get(p.Key)
			present = raw != ""
		case FromBody:
			v, ok := body[p.Key]
			if ok {
				if err := gqlserver.CheckInput(a.schema, def.Type, v, true); err != nil {
					return "", nil, restField(err, joinPath(p.Key, snakePath(err.Field, route.Opaque)))
				}
				vars[p.Var] = wholeInts(a.schema, def.Type, v)
			}
			present = ok
		}
		if !present {
			if required(def) {
				return "", nil, models.Invalid(p.Key, gqlserver.ReasonRequired)
			}
			continue
		}
		if p.From == FromBody {
			continue
		}
		v, err := convert(raw, p.Kind)
		if err != nil {
			return "", nil, models.Invalid(p.Key, err.Error())
		}
		vars[p.Var] = v
	}
	if route.Body != "" {
		input, err := camelKeys(body, route.Opaque, "")
		if err != nil {
			return "", nil, err
		}
		typ := defs[route.Body].Type
		if err := gqlserver.CheckInput(a.schema, typ, input, true); err != nil {
			return "", nil, restField(err, snakePath(err.Field, route.Opaque))
		}
		vars[route.Body] = wholeInts(a.schema, typ, input)
	} else if hasBodyParams(params) {
		for _, k := range slices.Sorted(maps.Keys(body)) {
			if !slices.ContainsFunc(params, func(p Param) bool { return p.From == FromBody && p.Key == k }) {
				return "", nil, models.Invalid(k, gqlserver.ReasonUnknownField)
			}
		}
	}
	return doc, vars, nil
}

// documents caches a route's documents by fields= value, up to
// maxDocuments; further combinations are built per request.
type documents struct {
	mu       sync.RWMutex
	byFields map[string]string
}

const maxDocuments = 256

func (d *documents) get(route *Route, fields string) (string, *models.Error) {
	d.mu.RLock()
	doc, ok := d.byFields[fields]
	d.mu.RUnlock()
	if ok {
		return doc, nil
	}
	sel, err := selection(route.Fields, fields)
	if err != nil {
		return "", err
	}
	doc = strings.Replace(route.Doc, "{fields}", sel, 1)
	d.mu.Lock()
	if len(d.byFields) < maxDocuments {
		d.byFields[fields] = doc
	}
	d.mu.Unlock()
	return doc, nil
}

// required reports whether a variable must be given: non-null without a
// default.
func required(def *ast.VariableDefinition) bool {
	return def.Type.NonNull && def.DefaultValue == nil
}

// restField returns e with its field spelled field.
func restField(e *models.Error, field string) *models.Error {
	named := *e
	named.Field = field
	return &named
}

func joinPath(parent, key string) string {
	if key == "" {
		return parent
	}
	return parent + "." + key
}

// checkQuery refuses query parameters that route does not declare, as
// unknown body fields are refused: a misspelt filter must not widen a list.
func checkQuery(route *Route, r *http.Request) *models.Error {
	allowed := route.QueryParams()
	for _, k := range slices.Sorted(maps.Keys(r.URL.Query())) {
		if slices.Contains(allowed, k) {
			continue
		}
		if len(allowed) == 0 {
			return models.Invalid(k, "is an unknown parameter; this route takes none")
		}
		return models.Invalid(k, "is an unknown parameter; allowed: "+strings.Join(allowed, ", "))
	}
	return nil
}

func hasBodyParams(params []Param) bool {
	return slices.ContainsFunc(params, func(p Param) bool { return p.From == FromBody })
}

// uploadBody returns the body of an Upload route as a streamed Upload: a
// raw body (application/octet-stream, or no Content-Type), or the part
// named "file" of a multipart/form-data body, other fields before it
// being skipped.
func (a *API) uploadBody(w http.ResponseWriter, r *http.Request) (graphql.Upload, *models.Error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case r.Header.Get("Content-Type") == "" || err == nil && mt == "application/octet-stream":
		size := r.ContentLength
		if size < 0 {
			size = -1
		}
		return gqlserver.StreamUpload(a.uploads.Body(w, r.Body), "", mt, size), nil
	case err == nil && mt == "multipart/form-data":
		mr, err := r.MultipartReader()
		if err != nil {
			return graphql.Upload{}, models.Invalid("body", "is multipart without a boundary")
		}
		for {
			part, err := mr.NextPart()
			if err != nil {
				return graphql.Upload{}, models.Invalid("file", "is required: send the binary as the multipart part named file")
			}
			if part.FormName() == "file" {
				return gqlserver.StreamUpload(a.uploads.Body(w, part), part.FileName(), part.Header.Get("Content-Type"), -1), nil
			}
		}
	}
	return graphql.Upload{}, &models.Error{Code: models.CodeUnsupportedMediaType,
		Message: "Content-Type must be application/octet-stream (the raw binary) or multipart/form-data (a part named file)"}
}

func readBody(r *http.Request) (map[string]any, *models.Error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, models.Invalid("body", "could not be read")
	}
	if len(data) > MaxBodyBytes {
		return nil, models.Invalid("body", fmt.Sprintf("must be at most %d bytes", MaxBodyBytes))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return map[string]any{}, nil
	}
	// Numbers decode as float64, so that GraphQL coercion cannot take a
	// number for a String; checkJSONType then holds integers to whole values.
	dec := json.NewDecoder(bytes.NewReader(data))
	var body map[string]any
	if err := dec.Decode(&body); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return nil, models.Invalid("body", "must be a JSON object")
		}
		return nil, models.Invalid("body", "is malformed JSON: "+err.Error())
	}
	if dec.More() {
		return nil, models.Invalid("body", "is malformed JSON: trailing data after the object")
	}
	if body == nil {
		return nil, models.Invalid("body", "must be a JSON object")
	}
	return body, nil
}

func convert(raw string, kind Kind) (any, error) {
	switch kind {
	case Int:
		n, err := strconv.Atoi(raw)
		if err != nil {
			return nil, errors.New("must be an integer")
		}
		return n, nil
	case Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return nil, errors.New("must be true or false")
		}
		return b, nil
	case ByAgent:
		if raw != "agent" {
			return nil, errors.New("must be agent")
		}
		return true, nil
	case EntityTag:
		tag := strings.TrimPrefix(strings.TrimSpace(raw), "W/")
		if tag == "*" {
			return tag, nil
		}
		unquoted, err := strconv.Unquote(tag)
		if err != nil || !strings.HasPrefix(tag, `"`) {
			return nil, errors.New(`must be an entity tag such as "3"`)
		}
		return unquoted, nil
	default:
		return raw, nil
	}
}

func selection(fields []Field, requested string) (string, *models.Error) {
	var names []string
	if requested == "" {
		for _, f := range fields {
			names = append(names, f.Name)
		}
	} else {
		for _, n := range strings.Split(requested, ",") {
			if n = strings.TrimSpace(n); n != "" && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			return "", models.Invalid("fields", "must name at least one field")
		}
	}
	var b strings.Builder
	for _, n := range names {
		i := slices.IndexFunc(fields, func(f Field) bool { return f.Name == n })
		if i < 0 {
			allowed := make([]string, len(fields))
			for j, f := range fields {
				allowed[j] = f.Name
			}
			return "", models.Invalid("fields", fmt.Sprintf("names an unknown field %q; allowed: %s", n, strings.Join(allowed, ", ")))
		}
		sel := fields[i].Selection
		if sel == "" {
			sel = n
		}
		b.WriteString(sel)
		b.WriteByte(' ')
	}
	return b.String(), nil
}

// ErrorFromGraphQL returns the coded error a presented GraphQL error
// shows (gqlserver's presenter wraps it), its field spelled for REST.
func ErrorFromGraphQL(route Route, gqlErr *gqlerror.Error) *models.Error {
	var coded *models.Error
	if !errors.As(gqlErr, &coded) {
		code, _ := gqlErr.Extensions["code"].(string)
		if code == "" {
			code = models.CodeInternal
		}
		return &models.Error{Code: code, Message: gqlErr.Message}
	}
	if coded.Field == "" {
		return coded
	}
	return restField(coded, restFieldName(route, coded.Field, gqlErr.Extensions["graphql_code"] != nil))
}

// restFieldName maps a GraphQL field path to the REST client's spelling.
// Variable paths start with the variable's name; domain paths name input
// fields directly, or an argument that a path, query or header parameter
// gives (idempotencyKey → Idempotency-Key).
func restFieldName(route Route, field string, isVariable bool) string {
	head, rest, _ := strings.Cut(field, ".")
	if !isVariable && rest == "" {
		for _, p := range route.Params {
			if p.Var == head && p.From != FromBody {
				return p.Key
			}
		}
	}
	if isVariable {
		if head == route.Body && route.Body != "" {
			return snakePath(rest, route.Opaque)
		}
		for _, p := range route.allParams() {
			if p.Var == head {
				if rest == "" {
					return p.Key
				}
				return p.Key + "." + snakePath(rest, route.Opaque)
			}
		}
	}
	return snakePath(field, route.Opaque)
}
