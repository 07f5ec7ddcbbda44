package http

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/projections"
)

var (
	errProjectionNotFound = domain.NotFound("projection_not_found", "no projection has this name (GET /v1/projections lists them)")
	errRebuildRunning     = domain.Conflict("rebuild_running", "a rebuild of this projection is already running")
)

// rebuildResponse is the 202 body of POST /v1/projections/{name}/rebuild.
type rebuildResponse struct {
	Name   string `json:"name"`
	Status string `json:"status"`
}

// handleListProjections is GET /v1/projections: {name, position, lag,
// status} of each projection, in API.md's list envelope (one page).
func (s *Server) handleListProjections(w http.ResponseWriter, r *http.Request) {
	sts, err := s.Reader.Statuses(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	// The position is shown as the events log and X-Event-Position show
	// it: a number with the PostgreSQL store.
	type status struct {
		projections.Status
		Position json.RawMessage `json:"position"`
	}
	data := make([]json.RawMessage, len(sts))
	for i, st := range sts {
		if data[i], err = json.Marshal(status{Status: st, Position: tokenJSON(st.Position)}); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, listResponse{Data: data})
}

// handleRebuildProjection is POST /v1/projections/{name}/rebuild → 202: the
// projection is rebuilt from the whole log into fresh tables, in the
// background, and swapped in atomically when done; until then the dashboard
// reads the old read model and GET /v1/projections shows it rebuilding. 404
// projection_not_found for an unknown name, 409 rebuild_running while one
// runs.
func (s *Server) handleRebuildProjection(w http.ResponseWriter, r *http.Request) {
	if err := decodeNoBody(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	name := pathVar(r, "name")
	if _, err := projections.ByName(name); err != nil {
		s.writeError(w, r, errProjectionNotFound)
		return
	}
	sts, err := s.Reader.Statuses(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, st := range sts {
		if st.Name == name && st.Status == "rebuilding" {
			s.writeError(w, r, errRebuildRunning)
			return
		}
	}
	// The rebuild outlives the request: it runs on a context that the
	// request's end does not cancel. A process that stops meanwhile leaves
	// the live read model as it was.
	ctx := context.WithoutCancel(r.Context())
	logger := s.logger()
	go func() {
		err := projections.Rebuild(ctx, s.Pool, s.Store, name)
		switch {
		case errors.Is(err, projections.ErrRebuildRunning):
			logger.Info("projection rebuild not started: another is running", "projection", name)
		case err != nil:
			logger.Error("projection rebuild failed", "projection", name, "err", err)
		default:
			logger.Info("projection rebuilt", "projection", name)
		}
	}()
	writeJSON(w, http.StatusAccepted, rebuildResponse{Name: name, Status: "rebuilding"})
}
