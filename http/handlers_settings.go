package http

import (
	"net/http"

	"github.com/subsd/subsd/command"
	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/settings"
)

// emailSettingsRequest is the body of PUT /v1/settings/email: the whole
// email configuration, every field required.
type emailSettingsRequest struct {
	TrackAndTraceEnabled     *bool   `json:"track_and_trace_enabled"`
	ChargeReminderDaysBefore *int    `json:"charge_reminder_days_before"`
	FromName                 *string `json:"from_name"`
	FromAddress              *string `json:"from_address"`
}

// emailSettingsResponse is the document of GET|PUT /v1/settings/email.
// Version is the settings stream's version, for If-Match.
type emailSettingsResponse struct {
	TrackAndTraceEnabled     bool   `json:"track_and_trace_enabled"`
	ChargeReminderDaysBefore int    `json:"charge_reminder_days_before"`
	FromName                 string `json:"from_name"`
	FromAddress              string `json:"from_address"`
	Version                  uint64 `json:"version"`
}

func emailSettingsDoc(r command.SettingsResult) emailSettingsResponse {
	e := r.Settings.Email()
	return emailSettingsResponse{
		TrackAndTraceEnabled: e.TrackAndTraceEnabled, ChargeReminderDaysBefore: e.ChargeReminderDaysBefore,
		FromName: e.FromName, FromAddress: string(e.FromAddress), Version: r.Version,
	}
}

// handleGetEmailSettings is GET /v1/settings/email. The settings are one
// short stream, read directly from the event store, so the answer is always
// current (X-Min-Position is still validated and honoured).
func (s *Server) handleGetEmailSettings(w http.ResponseWriter, r *http.Request) {
	if err := s.waitMinPosition(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.Commands.Settings(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(res.Version))
	writeJSON(w, http.StatusOK, emailSettingsDoc(res))
}

// handlePutEmailSettings is PUT /v1/settings/email (admin; If-Match
// honoured).
func (s *Server) handlePutEmailSettings(w http.ResponseWriter, r *http.Request) {
	ifm, err := ifMatch(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req emailSettingsRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	switch {
	case req.TrackAndTraceEnabled == nil:
		err = required("track_and_trace_enabled")
	case req.ChargeReminderDaysBefore == nil:
		err = required("charge_reminder_days_before")
	case req.FromName == nil:
		err = required("from_name")
	case req.FromAddress == nil:
		err = required("from_address")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.Commands.PutEmailSettings(r.Context(), s.metadata(r), settings.ChangeEmailSettings{
		TrackAndTraceEnabled: *req.TrackAndTraceEnabled, ChargeReminderDaysBefore: *req.ChargeReminderDaysBefore,
		FromName: *req.FromName, FromAddress: domain.Email(*req.FromAddress),
	}, ifm)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(res.Version))
	s.writeCommandResult(w, r, http.StatusOK, emailSettingsDoc(res), res.Position)
}

// dunningSettingsRequest is the body of PUT /v1/settings/dunning: the whole
// dunning policy, every field required.
type dunningSettingsRequest struct {
	RetryDays   *[]int  `json:"retry_days"`
	FinalAction *string `json:"final_action"`
}

// dunningSettingsResponse is the document of GET|PUT /v1/settings/dunning:
// retry_days are the days after a failed charge on which it is retried
// (default 1, 3, 5, 7; [] means none), final_action what happens to the
// subscription, then past_due, once the last retry has failed
// (cancel_at_period_end, the default; cancel_now; keep_past_due).
type dunningSettingsResponse struct {
	RetryDays   []int  `json:"retry_days"`
	FinalAction string `json:"final_action"`
	Version     uint64 `json:"version"`
}

func dunningSettingsDoc(r command.SettingsResult) dunningSettingsResponse {
	d := r.Settings.Dunning()
	days := d.RetryDays
	if days == nil {
		days = []int{}
	}
	return dunningSettingsResponse{RetryDays: days, FinalAction: string(d.FinalAction), Version: r.Version}
}

// handleGetDunningSettings is GET /v1/settings/dunning, read like the email
// settings.
func (s *Server) handleGetDunningSettings(w http.ResponseWriter, r *http.Request) {
	if err := s.waitMinPosition(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.Commands.Settings(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(res.Version))
	writeJSON(w, http.StatusOK, dunningSettingsDoc(res))
}

// handlePutDunningSettings is PUT /v1/settings/dunning (admin; If-Match
// honoured): API.md's "configurable" retry schedule and final action.
func (s *Server) handlePutDunningSettings(w http.ResponseWriter, r *http.Request) {
	ifm, err := ifMatch(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var req dunningSettingsRequest
	if err := decodeJSON(w, r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	switch {
	case req.RetryDays == nil:
		err = required("retry_days")
	case req.FinalAction == nil:
		err = required("final_action")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	res, err := s.Commands.PutDunningSettings(r.Context(), s.metadata(r), settings.ChangeDunning{
		RetryDays: *req.RetryDays, FinalAction: settings.FinalAction(*req.FinalAction),
	}, ifm)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(res.Version))
	s.writeCommandResult(w, r, http.StatusOK, dunningSettingsDoc(res), res.Position)
}
