package rest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/neuais/neuais/models"
)

// The one place where REST maps errors: GraphQL errors to coded errors
// with the field in REST's spelling, codes to HTTP statuses, coded errors
// to the contract's envelope. A field comes from the error's field path,
// never from its message.

// statusByCode is the one code → HTTP status table.
var statusByCode = map[string]int{
	models.CodeInvalidRequest:       http.StatusBadRequest,
	models.CodeUnauthorized:         http.StatusUnauthorized,
	models.CodeForbidden:            http.StatusForbidden,
	models.CodeNotFound:             http.StatusNotFound,
	models.CodeConflict:             http.StatusConflict,
	models.CodeRateLimitExceeded:    http.StatusTooManyRequests,
	models.CodeInternal:             http.StatusInternalServerError,
	models.CodeServiceUnavailable:   http.StatusServiceUnavailable,
	models.CodeTimeout:              http.StatusRequestTimeout,
	models.CodePreconditionFailed:   http.StatusPreconditionFailed,
	models.CodeMethodNotAllowed:     http.StatusMethodNotAllowed,
	models.CodePayloadTooLarge:      http.StatusRequestEntityTooLarge,
	models.CodeUnsupportedMediaType: http.StatusUnsupportedMediaType,
}

// HTTPStatus returns the status of an error code (500 for unknown codes).
func HTTPStatus(code string) int {
	if s, ok := statusByCode[code]; ok {
		return s
	}
	return http.StatusInternalServerError
}

type envelope struct {
	Error envelopeError `json:"error"`
}

type envelopeError struct {
	Code    string         `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

// envelopeOf returns e in the contract's shape; details is {} when there
// is nothing to add.
func envelopeOf(e *models.Error) envelope {
	return envelope{Error: envelopeError{Code: e.Code, Message: e.MessageFor(e.Field), Details: e.DetailsFor(e.Field)}}
}

// WriteError writes the contract's error envelope with the code's status;
// e's field is written as it is, in the REST spelling.
func WriteError(w http.ResponseWriter, e *models.Error) {
	status := HTTPStatus(e.Code)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="neuais"`)
	}
	if retry, ok := e.Details["retry_after"]; ok && e.Code == models.CodeRateLimitExceeded {
		w.Header().Set("Retry-After", fmt.Sprint(retry))
	}
	writeJSON(w, status, envelopeOf(e))
}

// errorOf returns the coded error that a presented GraphQL error of op
// shows (gqlserver's presenter wraps it), its field spelled for REST.
func (op *operation) errorOf(gqlErr *gqlerror.Error) *models.Error {
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
	// A variable that failed coercion has the error path
	// ["variable", name, …] and its field starts with the variable's name.
	isVariable := len(gqlErr.Path) > 0 && gqlErr.Path[0] == ast.PathName("variable")
	return restField(coded, op.restFieldName(coded.Field, isVariable))
}

// restFieldName maps a GraphQL field path to the REST client's spelling.
// Variable paths start with the variable's name; domain paths name input
// fields directly, or an argument that a parameter gives (idempotencyKey
// → Idempotency-Key).
func (op *operation) restFieldName(field string, isVariable bool) string {
	head, rest, _ := strings.Cut(field, ".")
	switch {
	case isVariable && op.body != nil && head == op.body.Var:
		return snakePath(rest, op.opaque)
	case isVariable && rest != "":
		if key, ok := op.names[head]; ok {
			return key + "." + snakePath(rest, op.opaque)
		}
	case rest == "":
		if key, ok := op.names[head]; ok {
			return key
		}
	}
	return snakePath(field, op.opaque)
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
