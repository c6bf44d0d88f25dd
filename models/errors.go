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
)

// Error is the one coded error type. Its Code reaches clients as
// extensions.code in GraphQL and as error.code in REST; Details is optional.
type Error struct {
	Code    string
	Message string
	Details map[string]any
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns a coded error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid reports a bad field: message, and details {field, reason}.
// field is written as the GraphQL client names it (dotted for nesting).
func Invalid(field, reason string) *Error {
	return &Error{
		Code:    CodeInvalidRequest,
		Message: "Invalid " + field + ": " + reason,
		Details: map[string]any{"field": field, "reason": reason},
	}
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
