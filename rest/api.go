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
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"
	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/neuais/neuais/internal/gqlserver"
	"github.com/neuais/neuais/models"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 1 << 20

// API serves the route table on one executor.
type API struct {
	exec      *executor.Executor
	schema    *ast.Schema
	routes    []Route
	endpoints []*endpoint
	openapi   []byte
	logger    *slog.Logger
	uploads   gqlserver.UploadLimits
}

// New returns the REST API over exec and its schema; uploads bound how
// slowly an Upload route's body may arrive. It compiles every route once
// and fails when a route's document does not validate against the schema.
// exec must be REST's own: New sets its query cache. Mount its Handler
// under /v1.
func New(exec *executor.Executor, schema *ast.Schema, routes []Route, uploads gqlserver.UploadLimits, logger *slog.Logger) (*API, error) {
	a := &API{exec: exec, schema: schema, routes: routes, logger: logger, uploads: uploads}
	for i := range a.routes {
		e, err := compile(schema, &a.routes[i])
		if err != nil {
			return nil, fmt.Errorf("rest: %s %s: %w", a.routes[i].Method, a.routes[i].Path, err)
		}
		a.endpoints = append(a.endpoints, e)
	}
	exec.SetQueryCache(compiledDocuments{})
	var err error
	if a.openapi, err = OpenAPI(schema, routes); err != nil {
		return nil, err
	}
	return a, nil
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
	for _, e := range a.endpoints {
		r.Method(e.route.Method, e.route.Path, a.serve(e))
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

func (a *API) serve(e *endpoint) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		query := r.URL.Query()
		if err := e.checkQuery(query); err != nil {
			WriteError(w, err)
			return
		}
		follow, err := e.follows(query)
		if err != nil {
			WriteError(w, err)
			return
		}
		doc, vars, err := a.fill(&e.op, r, query)
		if err != nil {
			WriteError(w, err)
			return
		}
		if e.route.Upload != "" {
			if vars[e.route.Upload], err = a.uploadBody(w, r); err != nil {
				WriteError(w, err)
				return
			}
		}
		resp := a.execute(r.Context(), doc, vars)
		if len(resp.Errors) > 0 {
			WriteError(w, e.op.errorOf(resp.Errors[0]))
			return
		}
		if follow {
			a.stream(e, w, r, query)
			return
		}
		result := resultOf(resp.Data)
		h := w.Header()
		for _, shape := range e.shapers {
			result = shape(h, result)
		}
		h.Set("Content-Type", "application/json")
		w.WriteHeader(e.status)
		_, _ = w.Write(result)
	}
}

// execute runs one compiled document in-process with ctx's identity.
func (a *API) execute(ctx context.Context, doc *document, vars map[string]any) *graphql.Response {
	ctx = graphql.StartOperationTrace(withDocument(ctx, doc))
	params := &graphql.RawParams{Query: doc.text, Variables: vars, ReadTime: graphql.TraceTiming{Start: graphql.Now(), End: graphql.Now()}}
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

// fill returns op's document for r and its variables. Every value is
// checked against its variable's type first (required, JSON type, enum
// values, unknown fields), so that errors are invalid_request naming the
// parameter as the client wrote it, in the client's terms, and gqlgen's
// coercion errors never reach REST.
func (a *API) fill(op *operation, r *http.Request, query url.Values) (*document, map[string]any, *models.Error) {
	vars := make(map[string]any, len(op.params)+1)
	doc := op.doc
	if op.docs != nil {
		var err *models.Error
		if doc, err = op.docs.get(query.Get("fields")); err != nil {
			return nil, nil, err
		}
	}
	var body map[string]any
	if op.readsBody {
		var err *models.Error
		if body, err = readBody(r); err != nil {
			return nil, nil, err
		}
	}
	for _, p := range op.params {
		var raw string
		var present bool
		switch p.From {
		case FromPath:
			raw = chi.URLParam(r, p.Key)
			present = true
		case FromQuery:
			raw = query.Get(p.Key)
			present = raw != ""
		case FromHeader:
			raw = r.Header.Get(p.Key)
			present = raw != ""
		case FromBody:
			v, ok := body[p.Key]
			if ok {
				if err := gqlserver.CheckInput(a.schema, p.typ, v, true); err != nil {
					return nil, nil, restField(err, joinPath(p.Key, snakePath(err.Field, op.opaque)))
				}
				vars[p.Var] = wholeInts(a.schema, p.typ, v)
			}
			present = ok
		}
		if !present {
			if p.required {
				return nil, nil, models.Invalid(p.Key, gqlserver.ReasonRequired)
			}
			continue
		}
		if p.From == FromBody {
			continue
		}
		v, err := convert(raw, p.Kind)
		if err != nil {
			return nil, nil, models.Invalid(p.Key, err.Error())
		}
		vars[p.Var] = v
	}
	switch {
	case op.body != nil:
		input, err := camelKeys(body, op.opaque, "")
		if err != nil {
			return nil, nil, err
		}
		if err := gqlserver.CheckInput(a.schema, op.body.typ, input, true); err != nil {
			return nil, nil, restField(err, snakePath(err.Field, op.opaque))
		}
		vars[op.body.Var] = wholeInts(a.schema, op.body.typ, input)
	case op.readsBody:
		for _, k := range slices.Sorted(maps.Keys(body)) {
			if !slices.ContainsFunc(op.params, func(p param) bool { return p.From == FromBody && p.Key == k }) {
				return nil, nil, models.Invalid(k, gqlserver.ReasonUnknownField)
			}
		}
	}
	return doc, vars, nil
}

// checkQuery refuses query parameters that the route does not declare,
// as unknown body fields are refused: a misspelt filter must not widen a list.
func (e *endpoint) checkQuery(query url.Values) *models.Error {
	for _, k := range slices.Sorted(maps.Keys(query)) {
		if slices.Contains(e.query, k) {
			continue
		}
		if len(e.query) == 0 {
			return models.Invalid(k, "is an unknown parameter; this route takes none")
		}
		return models.Invalid(k, "is an unknown parameter; allowed: "+strings.Join(e.query, ", "))
	}
	return nil
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
