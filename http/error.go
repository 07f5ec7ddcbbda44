package http

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/eventstore"
)

// Kinds the domain never produces but the transport does. They are
// domain.Kind values so that every error response, whatever its origin, goes
// through the one mapping in statusOf.
const (
	kindMethodNotAllowed domain.Kind = "method_not_allowed"
	kindUnavailable      domain.Kind = "unavailable"
	kindUnauthorized     domain.Kind = "unauthorized"
	kindForbidden        domain.Kind = "forbidden"
	kindRateLimited      domain.Kind = "rate_limited"
	kindPrecondition     domain.Kind = "precondition_failed"
	// kindNotImplemented is a route whose handler belongs to a later issue.
	kindNotImplemented domain.Kind = "not_implemented"
)

var (
	errNotFound         = domain.NotFound("not_found", "no such endpoint")
	errMethodNotAllowed = &domain.Error{Kind: kindMethodNotAllowed, Code: "method_not_allowed", Message: "the endpoint does not accept this method"}
	errInternal         = &domain.Error{Code: "internal_error", Message: "internal error"}
	errUnauthorized     = &domain.Error{Kind: kindUnauthorized, Code: "unauthorized", Message: "a valid bearer token is required (Authorization: Bearer <token>)"}
	errForbidden        = &domain.Error{Kind: kindForbidden, Code: "forbidden", Message: "the token's role may not call this endpoint"}
	errRateLimited      = &domain.Error{Kind: kindRateLimited, Code: "rate_limited", Message: "too many requests for this token; retry after the Retry-After delay"}
	// errVersionMismatch is the answer to a write whose If-Match names a
	// version the stream has moved past.
	errVersionMismatch = &domain.Error{Kind: kindPrecondition, Code: "version_mismatch", Message: "the resource has changed since the version given in If-Match"}
)

// statusOf is the one place an error kind becomes an HTTP status. A kind it
// does not know is a server bug, reported as 500.
func statusOf(kind domain.Kind) int {
	switch kind {
	case domain.KindInvalid:
		return http.StatusBadRequest
	case domain.KindNotFound:
		return http.StatusNotFound
	case kindMethodNotAllowed:
		return http.StatusMethodNotAllowed
	case domain.KindConflict:
		return http.StatusConflict
	case kindUnavailable:
		return http.StatusServiceUnavailable
	case kindUnauthorized:
		return http.StatusUnauthorized
	case kindForbidden:
		return http.StatusForbidden
	case kindRateLimited:
		return http.StatusTooManyRequests
	case kindPrecondition:
		return http.StatusPreconditionFailed
	case kindNotImplemented:
		return http.StatusNotImplemented
	default:
		return http.StatusInternalServerError
	}
}

// errorResponse is the body of every error response:
// {"error": {"code", "message", "field"}}.
type errorResponse struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// writeError answers with err. A *domain.Error (anywhere in err's chain) is
// shown to the client with the status of its kind; anything else is internal:
// logged with the request, and shown only as "internal_error".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *domain.Error
	status := http.StatusInternalServerError
	if errors.Is(err, eventstore.ErrVersionMismatch) {
		err = errVersionMismatch
	}
	if errors.As(err, &e) {
		status = statusOf(e.Kind)
	}
	if status == http.StatusInternalServerError {
		s.logger().ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "request_id", requestID(r.Context()), "err", err)
		e = errInternal
	}
	writeJSON(w, status, errorResponse{Error: errorDetail{Code: e.Code, Message: e.Message, Field: e.Field}})
}

// writeJSON answers with v as JSON. Values written here are the server's own
// types, which always marshal; a failure is a programming error, so it panics
// (and recoverPanics answers 500) rather than sending a half-written body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// notImplemented answers 501 not_implemented naming the endpoint. It is the
// handler of routes whose behaviour belongs to a later issue.
func (s *Server) notImplemented(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, &domain.Error{
		Kind:    kindNotImplemented,
		Code:    "not_implemented",
		Message: r.Method + " " + routeTemplate(r) + " is not implemented yet",
	})
}
