package http

import (
	"context"
	"net/http"

	"github.com/subsd/subsd/domain"
)

// ShipmentScheduler enqueues the jobs of due shipments: every active
// product whose next shipment is due by dueBy and has no job yet. It
// returns how many it enqueued; calling it again enqueues nothing new.
type ShipmentScheduler interface {
	ScheduleShipments(ctx context.Context, dueBy domain.Date) (int, error)
}

// scheduleShipmentsRequest is the body of POST /v1/scheduler/shipments.
type scheduleShipmentsRequest struct {
	DueBy *domain.Date `json:"due_by"`
}

// scheduleShipmentsResponse is its answer.
type scheduleShipmentsResponse struct {
	Enqueued int `json:"enqueued"`
}

// handleScheduleShipments is POST /v1/scheduler/shipments (admin,
// scheduler). The service runs the same work itself every minute, so a
// scheduler calling it is a belt to those braces, and safe to repeat.
func (s *Server) handleScheduleShipments(w http.ResponseWriter, r *http.Request) {
	var req scheduleShipmentsRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.DueBy == nil || req.DueBy.IsZero() {
		s.writeError(w, r, required("due_by"))
		return
	}
	n, err := s.Scheduler.ScheduleShipments(r.Context(), *req.DueBy)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, scheduleShipmentsResponse{Enqueued: n})
}
