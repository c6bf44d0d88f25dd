// Package models holds the domain types shared by every layer: bun models,
// the coded error type and the request identity carried in a context.
package models

import (
	"errors"
	"fmt"
)

// Error codes of the public contract; each maps to one HTTP status in rest/.
const (
	CodeInvalidRequest     = "invalid_request"
	CodeUnauthorized       = "unauthorized"
	CodeForbidden          = "forbidden"
	CodeNotFound           = "not_found"
	CodeConflict           = "conflict"
	CodeRateLimitExceeded  = "rate_limit_exceeded"
	CodeInternal           = "internal_error"
	CodeServiceUnavailable = "service_unavailable"
	// CodeTimeout, CodePreconditionFailed and CodeMethodNotAllowed extend
	// the contract for waits that expire (408), stale If-Match headers
	// (412) and methods a REST route does not serve (405).
	CodeTimeout            = "timeout"
	CodePreconditionFailed = "precondition_failed"
	CodeMethodNotAllowed   = "method_not_allowed"
	// CodePayloadTooLarge (413) and CodeUnsupportedMediaType (415) extend
	// it for uploads over the size cap and bodies of a type a route does
	// not take.
	CodePayloadTooLarge      = "payload_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
)

// Error is the one coded error type. Its Code reaches clients as
// extensions.code in GraphQL and as error.code in REST; Details is optional.
//
// Field and Reason, when Field is set, name the input at fault and what is
// wrong with it, in the client's terms ("must be greater than 0"). Field is
// dotted in the GraphQL input spelling (config.replicas, binaryUrl); each
// transport spells it its own way in details.field and in the message,
// which is "<field> <reason>" unless Message is set.
type Error struct {
	Code    string
	Message string
	Details map[string]any
	Field   string
	Reason  string
}

func (e *Error) Error() string { return e.Code + ": " + e.MessageFor(e.Field) }

// MessageFor returns the message with the field spelled as field.
func (e *Error) MessageFor(field string) string {
	if e.Message != "" || e.Reason == "" {
		return e.Message
	}
	if field == "" {
		return e.Reason
	}
	return field + " " + e.Reason
}

// DetailsFor returns Details with the field, spelled as field, and the
// reason added; never nil, so that every error carries a details object.
func (e *Error) DetailsFor(field string) map[string]any {
	out := make(map[string]any, len(e.Details)+2)
	for k, v := range e.Details {
		out[k] = v
	}
	if field != "" {
		out["field"] = field
	}
	if e.Reason != "" {
		out["reason"] = e.Reason
	}
	return out
}

// Errorf returns a coded error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid reports a bad field: invalid_request with the field, in the
// GraphQL input spelling (dotted for nesting), and the reason, such as
// "is required" or "must be one of go, rust, native".
func Invalid(field, reason string) *Error {
	return &Error{Code: CodeInvalidRequest, Field: field, Reason: reason}
}

// NotFound reports a missing resource of the given kind ("agent", "user").
func NotFound(kind string) *Error {
	return Errorf(CodeNotFound, "%s not found", kind)
}

// ErrUnauthorized is returned when a request carries no valid identity.
var ErrUnauthorized = &Error{Code: CodeUnauthorized, Message: "Missing or invalid authentication"}

// ErrForbidden is returned when the caller's role does not allow the action.
var ErrForbidden = &Error{Code: CodeForbidden, Message: "Insufficient permissions"}

// ErrorCode returns the code of err, or internal_error for uncoded errors.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
