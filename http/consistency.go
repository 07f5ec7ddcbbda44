package http

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/eventstore"
)

// The consistency headers of API.md.
const (
	// headerEventPosition is on every write's response: the position of the
	// write's last event, as an opaque token (eventstore.Position.Token).
	headerEventPosition = "X-Event-Position"
	// headerMinPosition on a GET makes it wait until the read models have
	// caught up with the position.
	headerMinPosition = "X-Min-Position"
)

// minPositionTimeout is how long a GET waits for X-Min-Position before it
// answers 503 projection_lagging.
const minPositionTimeout = 5 * time.Second

var errProjectionLagging = &domain.Error{
	Kind:    kindUnavailable,
	Code:    "projection_lagging",
	Message: "the read models have not caught up with X-Min-Position within 5 s; retry",
}

// invalidHeader is the 400 for a request header that cannot be parsed.
func invalidHeader(name, message string) *domain.Error {
	return &domain.Error{Kind: domain.KindInvalid, Code: "invalid_header", Message: message, Field: name}
}

// positionWaiter is what waitMinPosition needs of the read models
// (projections.Reader).
type positionWaiter interface {
	// WaitFor returns nil once every read model has applied the event at
	// pos, or an error when ctx is done first.
	WaitFor(ctx context.Context, pos eventstore.Position) error
}

// writeCommandResult answers a write: status and body as JSON, with
// X-Event-Position set to pos (when the command appended anything; the zero
// position means it did not, and the header is left out).
func (s *Server) writeCommandResult(w http.ResponseWriter, r *http.Request, status int, body any, pos eventstore.Position) {
	if pos != (eventstore.Position{}) {
		w.Header().Set(headerEventPosition, pos.Token())
	}
	writeJSON(w, status, body)
}

// waitMinPosition honours a GET's X-Min-Position: it returns once the read
// models have caught up with it, a 400 invalid_header for a value that is not
// a position token, or 503 projection_lagging after minPositionTimeout. A
// request without the header returns at once.
func (s *Server) waitMinPosition(r *http.Request) error {
	raw := strings.TrimSpace(r.Header.Get(headerMinPosition))
	if raw == "" {
		return nil
	}
	pos, err := eventstore.ParseToken(raw)
	if err != nil {
		return invalidHeader(headerMinPosition, "X-Min-Position must be a position from an X-Event-Position header")
	}
	waiter := s.positionWaiter()
	if waiter == nil || pos == (eventstore.Position{}) {
		return nil
	}
	wait := minPositionTimeout
	if s.minPositionWait > 0 {
		wait = s.minPositionWait
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	if err := waiter.WaitFor(ctx, pos); err != nil {
		if errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil {
			return errProjectionLagging
		}
		return err
	}
	return nil
}

// ifMatch returns the version a write's If-Match header names, or nil
// without the header. It accepts 3, "3" and W/"3" (the forms an ETag may be
// echoed in); anything else is 400 invalid_header.
func ifMatch(r *http.Request) (*uint64, error) {
	raw := strings.TrimSpace(r.Header.Get("If-Match"))
	if raw == "" {
		return nil, nil
	}
	v := strings.TrimPrefix(raw, "W/")
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		v = v[1 : len(v)-1]
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return nil, invalidHeader("If-Match", "If-Match must be a document version, such as 3 or \"3\"")
	}
	return &n, nil
}

// positionWaiter returns what waitMinPosition waits on: the test's fake, or
// the Reader, or nil when there are no read models to wait for.
func (s *Server) positionWaiter() positionWaiter {
	if s.waiter != nil {
		return s.waiter
	}
	if s.Reader != nil {
		return s.Reader
	}
	return nil
}
