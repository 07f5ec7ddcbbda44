package http

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/subsd/subsd/domain"
)

// Check is one condition of readiness, such as "the database answers".
type Check struct {
	// Name names the condition in /readyz's error message: "database".
	Name string
	// CheckFunc returns nil when the condition holds. It must return once
	// its context is done. Its error is logged, never shown to clients.
	CheckFunc func(ctx context.Context) error
}

// readyTimeout bounds each check, so a hung dependency makes /readyz answer
// 503 promptly instead of making the prober time out.
const readyTimeout = 3 * time.Second

// handleHealthz answers 200 whenever the process can serve HTTP at all. It
// checks nothing else on purpose: a liveness probe that failed on a database
// outage would restart every replica at once for a problem restarts cannot
// fix.
func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// handleReadyz runs every check concurrently and answers 200 if all pass, or
// 503 with code not_ready naming those that failed.
func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()

	errs := make([]error, len(s.Checks))
	var wg sync.WaitGroup
	for i, c := range s.Checks {
		wg.Go(func() { errs[i] = c.CheckFunc(ctx) })
	}
	wg.Wait()

	var failed []string
	for i, err := range errs {
		if err != nil {
			failed = append(failed, s.Checks[i].Name)
			s.logger().WarnContext(r.Context(), "not ready", "check", s.Checks[i].Name, "err", err)
		}
	}
	if len(failed) > 0 {
		s.writeError(w, r, &domain.Error{
			Kind:    kindUnavailable,
			Code:    "not_ready",
			Message: "not ready: " + strings.Join(failed, ", "),
		})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}
