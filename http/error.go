package http

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/subsd/subsd/domain"
)

// Kinds the domain never produces but the transport does. They are
// domain.Kind values so that every error response, whatever its origin, goes
// through the one mapping in statusOf.
const (
	kindMethodNotAllowed domain.Kind = "method_not_allowed"
	kindUnavailable      domain.Kind = "unavailable"
)

var (
	errNotFound         = domain.NotFound("not_found", "no such endpoint")
	errMethodNotAllowed = &domain.Error{Kind: kindMethodNotAllowed, Code: "method_not_allowed", Message: "the endpoint does not accept this method"}
	errInternal         = &domain.Error{Code: "internal_error", Message: "internal error"}
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
	if errors.As(err, &e) {
		status = statusOf(e.Kind)
	}
	if status == http.StatusInternalServerError {
		s.logger().ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
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
