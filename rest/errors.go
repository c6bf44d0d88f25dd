package rest

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/neuais/neuais/models"
)

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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
