package gqlserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/neuais/neuais/models"
)

// Media types of GraphQL over HTTP responses.
const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
)

// MaxBodyBytes bounds a GraphQL request body.
const MaxBodyBytes = 1 << 20

// HTTP is the GET and POST transport of the GraphQL-over-HTTP
// specification. gqlgen's own GET and POST transports answer a missing
// query with 422 and parse errors with 422 where the specification asks
// for 400 and 200, and keep "data": null in request errors; this one
// follows the specification:
//   - the response type is negotiated from Accept: application/json (also
//     for */* and no Accept) or application/graphql-response+json;
//   - a body that is not JSON, or parameters of the wrong type, are 400;
//     a POST without a JSON Content-Type is 415;
//   - a document that does not parse or validate is 200 for
//     application/json and 400 for application/graphql-response+json,
//     and the response has no data entry;
//   - mutations over GET are 405 with Allow: POST;
//   - subscriptions belong to the streaming transports and are refused;
//   - a rate_limit_exceeded error sets Retry-After, as in REST;
//   - a multipart/form-data POST is a GraphQL multipart request (uploads).
type HTTP struct {
	// Uploads bound how slowly a multipart request's file may arrive.
	Uploads UploadLimits
}

var _ graphql.Transport = HTTP{}

// Supports takes plain GET and POST requests, leaving WebSocket upgrades
// and event streams to their transports.
func (HTTP) Supports(r *http.Request) bool {
	if r.Header.Get("Upgrade") != "" || strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		return false
	}
	return r.Method == http.MethodGet || r.Method == http.MethodPost
}

// Do serves one request.
func (t HTTP) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ctx := r.Context()
	media := negotiate(r.Header.Get("Accept"))
	w.Header().Set("Content-Type", media+"; charset=utf-8")
	fail := func(status int, msg string) {
		w.WriteHeader(status)
		writeResponse(w, exec.DispatchError(ctx, gqlerror.List{gqlerror.Errorf("%s", msg)}))
	}

	params := &graphql.RawParams{Headers: r.Header, ReadTime: graphql.TraceTiming{Start: graphql.Now()}}
	if r.Method == http.MethodGet {
		if err := readGET(r, params); err != nil {
			fail(http.StatusBadRequest, err.Error())
			return
		}
	} else {
		status, err := readPOST(w, r, params, t.Uploads)
		if err != nil {
			fail(status, err.Error())
			return
		}
	}
	params.ReadTime.End = graphql.Now()

	rc, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		// A request error: the document did not parse or validate, or the
		// variables did not coerce. Nothing ran, so there is no data.
		if media == mediaGraphQLResponse {
			w.WriteHeader(http.StatusBadRequest)
		}
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		resp.Data = nil
		writeResponse(w, resp)
		return
	}
	switch rc.Operation.Operation {
	case ast.Mutation:
		if r.Method == http.MethodGet {
			w.Header().Set("Allow", http.MethodPost)
			fail(http.StatusMethodNotAllowed, "mutations need POST")
			return
		}
	case ast.Subscription:
		fail(http.StatusBadRequest, "subscriptions are served over WebSocket or server-sent events, not plain HTTP")
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, rc)
	resp := responses(ctx)
	setRetryAfter(w, resp.Errors)
	writeResponse(w, resp)
}

// setRetryAfter copies a rate_limit_exceeded error's details.retry_after
// into Retry-After, as REST answers do, so clients can wait alike.
func setRetryAfter(w http.ResponseWriter, errs gqlerror.List) {
	for _, e := range errs {
		if e.Extensions["code"] != models.CodeRateLimitExceeded {
			continue
		}
		if details, ok := e.Extensions["details"].(map[string]any); ok && details["retry_after"] != nil {
			w.Header().Set("Retry-After", fmt.Sprint(details["retry_after"]))
			return
		}
	}
}

// negotiate picks the response media type from Accept, preferring
// application/graphql-response+json when the client ranks both equally.
func negotiate(accept string) string {
	if strings.TrimSpace(accept) == "" {
		return mediaJSON
	}
	best, bestQ := mediaJSON, -1.0
	for part := range strings.SplitSeq(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		q := 1.0
		if v, ok := params["q"]; ok {
			if q, err = strconv.ParseFloat(v, 64); err != nil {
				continue
			}
		}
		var candidate string
		switch mt {
		case mediaGraphQLResponse:
			candidate = mediaGraphQLResponse
		case mediaJSON, "application/*", "*/*":
			candidate = mediaJSON
		default:
			continue
		}
		if q > bestQ || q == bestQ && candidate == mediaGraphQLResponse {
			best, bestQ = candidate, q
		}
	}
	return best
}

func readGET(r *http.Request, params *graphql.RawParams) error {
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return errors.New("the query string could not be parsed")
	}
	params.Query = query.Get("query")
	params.OperationName = query.Get("operationName")
	if v := query.Get("variables"); v != "" {
		if err := decodeObject([]byte(v), &params.Variables); err != nil {
			return errors.New("variables must be a JSON object")
		}
	}
	if v := query.Get("extensions"); v != "" {
		if err := decodeObject([]byte(v), &params.Extensions); err != nil {
			return errors.New("extensions must be a JSON object")
		}
	}
	return checkQuery(params)
}

func readPOST(w http.ResponseWriter, r *http.Request, params *graphql.RawParams, uploads UploadLimits) (int, error) {
	mt, mparams, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err == nil && mt == "multipart/form-data" {
		return readMultipart(w, r, params, uploads)
	}
	if err != nil || mt != mediaJSON {
		return http.StatusUnsupportedMediaType, errors.New("Content-Type must be application/json (or multipart/form-data for uploads)")
	}
	if cs, ok := mparams["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return http.StatusUnsupportedMediaType, errors.New("the body must be UTF-8")
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return http.StatusBadRequest, errors.New("the body could not be read")
	}
	if len(data) > MaxBodyBytes {
		return http.StatusRequestEntityTooLarge, errors.New("the body is too large")
	}
	return readJSON(data, params)
}

// readJSON reads a JSON request body (or a multipart request's operations).
func readJSON(data []byte, params *graphql.RawParams) (int, error) {
	var body struct {
		Query         *json.RawMessage `json:"query"`
		OperationName *json.RawMessage `json:"operationName"`
		Variables     *json.RawMessage `json:"variables"`
		Extensions    *json.RawMessage `json:"extensions"`
	}
	if err := json.Unmarshal(data, &body); err != nil {
		return http.StatusBadRequest, errors.New("the body must be a JSON object")
	}
	if err := decodeString(body.Query, &params.Query); err != nil {
		return http.StatusBadRequest, errors.New("query must be a string")
	}
	if err := decodeString(body.OperationName, &params.OperationName); err != nil {
		return http.StatusBadRequest, errors.New("operationName must be a string")
	}
	if body.Variables != nil {
		if err := decodeObject(*body.Variables, &params.Variables); err != nil {
			return http.StatusBadRequest, errors.New("variables must be an object")
		}
	}
	if body.Extensions != nil {
		if err := decodeObject(*body.Extensions, &params.Extensions); err != nil {
			return http.StatusBadRequest, errors.New("extensions must be an object")
		}
	}
	return http.StatusBadRequest, checkQuery(params)
}

// checkQuery requires a query, unless a persisted query hash stands for it.
func checkQuery(params *graphql.RawParams) error {
	if params.Query == "" && params.Extensions["persistedQuery"] == nil {
		return errors.New("query is required")
	}
	return nil
}

// decodeString decodes a JSON string or null.
func decodeString(raw *json.RawMessage, dst *string) error {
	if raw == nil || string(*raw) == "null" {
		return nil
	}
	return json.Unmarshal(*raw, dst)
}

// decodeObject decodes a JSON object or null, keeping numbers exact.
func decodeObject(raw []byte, dst *map[string]any) error {
	if string(bytes.TrimSpace(raw)) == "null" {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return err
	}
	if m == nil {
		return errors.New("not an object")
	}
	*dst = m
	return nil
}

// response is graphql.Response without "data" when there is none: a
// request error has no data entry at all.
type response struct {
	Errors     gqlerror.List   `json:"errors,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	Extensions map[string]any  `json:"extensions,omitempty"`
}

func writeResponse(w io.Writer, resp *graphql.Response) {
	out := response{Errors: resp.Errors, Data: resp.Data, Extensions: resp.Extensions}
	if out.Data == nil && len(out.Errors) == 0 {
		out.Data = json.RawMessage("null")
	}
	_ = json.NewEncoder(w).Encode(out)
}

// Endpoint serves a GraphQL endpoint: the playground page for a browser's
// GET (Accept: text/html), 405 for methods other than GET, POST and
// OPTIONS, and srv for the rest.
func Endpoint(srv, graphiql http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			if r.Header.Get("Upgrade") == "" && strings.Contains(r.Header.Get("Accept"), "text/html") {
				graphiql.ServeHTTP(w, r)
				return
			}
		case http.MethodPost, http.MethodOptions:
		default:
			w.Header().Set("Allow", "GET, POST, OPTIONS")
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		srv.ServeHTTP(w, r)
	})
}
