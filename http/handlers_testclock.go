package http

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/eventstore"
)

// TestClockControl is what the test-clock routes need: the clock's now and
// a way to move it forward (workers.TestClock and workers.Advancer behind
// it). AdvanceAfter returns the store's head once the event at after is
// applied everywhere and everything that fell due on the way has run, or a
// *domain.Error for a time before now.
type TestClockControl interface {
	Now() time.Time
	AdvanceAfter(ctx context.Context, to time.Time, after eventstore.Position) (eventstore.Position, error)
}

// testClockResponse is the document of the test-clock routes.
type testClockResponse struct {
	Now string `json:"now"`
}

// advanceTestClockRequest is the body of POST /v1/test-clock/advance.
type advanceTestClockRequest struct {
	To *string `json:"to"`
}

func testClockDoc(now time.Time) testClockResponse {
	return testClockResponse{Now: now.UTC().Format(time.RFC3339Nano)}
}

// handleGetTestClock is GET /v1/test-clock (TEST_CLOCK=1 only).
func (s *Server) handleGetTestClock(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, testClockDoc(s.TestClockControl.Now()))
}

// handleAdvanceTestClock is POST /v1/test-clock/advance (admin,
// TEST_CLOCK=1 only): it answers once the clock is at to and everything
// that fell due on the way has run, in time order, with X-Event-Position
// set to the store's head then, so a GET with X-Min-Position sees it all.
// A time before now is 400. An X-Min-Position header (a write the client
// just made) is waited for before the clock moves, so that the work that
// write made due is seen. The answer can take a while (each step waits for
// the jobs it caused), so clients give it a generous timeout.
func (s *Server) handleAdvanceTestClock(w http.ResponseWriter, r *http.Request) {
	after := eventstore.Start
	if raw := strings.TrimSpace(r.Header.Get(headerMinPosition)); raw != "" {
		pos, err := eventstore.ParseToken(raw)
		if err != nil {
			s.writeError(w, r, invalidHeader(headerMinPosition, "X-Min-Position must be a position from an X-Event-Position header"))
			return
		}
		after = pos
	}
	var req advanceTestClockRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.To == nil {
		s.writeError(w, r, required("to"))
		return
	}
	to, err := time.Parse(time.RFC3339Nano, *req.To)
	if err != nil {
		s.writeError(w, r, domain.Invalid("to", "to must be an RFC 3339 time such as 2026-11-21T10:00:00Z, got %q", *req.To))
		return
	}
	pos, err := s.TestClockControl.AdvanceAfter(r.Context(), to, after)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeCommandResult(w, r, http.StatusOK, testClockDoc(s.TestClockControl.Now()), pos)
}
