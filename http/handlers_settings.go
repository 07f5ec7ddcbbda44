package http

import (
	"context"
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

// handleGetEmailSettings is GET /v1/settings/email.
func (s *Server) handleGetEmailSettings(w http.ResponseWriter, r *http.Request) {
	s.getSettings(w, r, func(res command.SettingsResult) any { return emailSettingsDoc(res) })
}

// handlePutEmailSettings is PUT /v1/settings/email (admin; If-Match
// honoured).
func (s *Server) handlePutEmailSettings(w http.ResponseWriter, r *http.Request) {
	var req emailSettingsRequest
	s.putSettings(w, r, &req, func(ctx context.Context, ifm *uint64) (settingsAnswer, error) {
		switch {
		case req.TrackAndTraceEnabled == nil:
			return settingsAnswer{}, required("track_and_trace_enabled")
		case req.ChargeReminderDaysBefore == nil:
			return settingsAnswer{}, required("charge_reminder_days_before")
		case req.FromName == nil:
			return settingsAnswer{}, required("from_name")
		case req.FromAddress == nil:
			return settingsAnswer{}, required("from_address")
		}
		res, err := s.Commands.PutEmailSettings(ctx, s.metadata(r), settings.ChangeEmailSettings{
			TrackAndTraceEnabled: *req.TrackAndTraceEnabled, ChargeReminderDaysBefore: *req.ChargeReminderDaysBefore,
			FromName: *req.FromName, FromAddress: domain.Email(*req.FromAddress),
		}, ifm)
		return settingsAnswer{res, emailSettingsDoc(res)}, err
	})
}

// settingsAnswer is a settings command's result and the document it
// answers with.
type settingsAnswer struct {
	res command.SettingsResult
	doc any
}

// getSettings answers a GET of the settings with view's document. The
// settings are one short stream, read directly from the event store, so the
// answer is always current (X-Min-Position is still validated and
// honoured).
func (s *Server) getSettings(w http.ResponseWriter, r *http.Request, view func(command.SettingsResult) any) {
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
	writeJSON(w, http.StatusOK, view(res))
}

// putSettings decodes a PUT of the settings into req, then lets run check
// it and change the settings (with the If-Match version), and answers with
// the document run returns.
func (s *Server) putSettings(w http.ResponseWriter, r *http.Request, req any, run func(ctx context.Context, ifm *uint64) (settingsAnswer, error)) {
	ifm, err := ifMatch(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := decodeJSON(w, r, req); err != nil {
		s.writeError(w, r, err)
		return
	}
	a, err := run(r.Context(), ifm)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("ETag", etag(a.res.Version))
	s.writeCommandResult(w, r, http.StatusOK, a.doc, a.res.Position)
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

// handleGetDunningSettings is GET /v1/settings/dunning.
func (s *Server) handleGetDunningSettings(w http.ResponseWriter, r *http.Request) {
	s.getSettings(w, r, func(res command.SettingsResult) any { return dunningSettingsDoc(res) })
}

// handlePutDunningSettings is PUT /v1/settings/dunning (admin; If-Match
// honoured): API.md's "configurable" retry schedule and final action.
func (s *Server) handlePutDunningSettings(w http.ResponseWriter, r *http.Request) {
	var req dunningSettingsRequest
	s.putSettings(w, r, &req, func(ctx context.Context, ifm *uint64) (settingsAnswer, error) {
		switch {
		case req.RetryDays == nil:
			return settingsAnswer{}, required("retry_days")
		case req.FinalAction == nil:
			return settingsAnswer{}, required("final_action")
		}
		res, err := s.Commands.PutDunningSettings(ctx, s.metadata(r), settings.ChangeDunning{
			RetryDays: *req.RetryDays, FinalAction: settings.FinalAction(*req.FinalAction),
		}, ifm)
		return settingsAnswer{res, dunningSettingsDoc(res)}, err
	})
}
