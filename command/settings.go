package command

import (
	"context"

	"github.com/subsd/subsd/domain/settings"
	"github.com/subsd/subsd/eventstore"
)

// SettingsResult is the business's settings after a use case.
type SettingsResult struct {
	Settings settings.State
	Written
}

// Settings reads the settings aggregate (one stream, so a read is one
// short fold): GET /v1/settings/email and /v1/settings/dunning are served
// from it directly rather than from a projection.
func (s *Service) Settings(ctx context.Context) (SettingsResult, error) {
	st, v, err := eventstore.Load(ctx, s.store, settings.Aggregate, settings.Stream())
	if err != nil {
		return SettingsResult{}, err
	}
	out := SettingsResult{Settings: st, Written: Written{Version: v}}
	if v > 0 {
		if out.Position, err = s.streamPosition(ctx, settings.Stream(), v); err != nil {
			return SettingsResult{}, err
		}
	}
	return out, nil
}

// PutEmailSettings replaces the email settings as a whole
// (settings.email_changed; nothing when they are already so). c.At is set
// by the service. Validation errors name charge_reminder_days_before,
// from_name or from_address.
func (s *Service) PutEmailSettings(ctx context.Context, md eventstore.Metadata, c settings.ChangeEmailSettings, ifMatch *uint64) (SettingsResult, error) {
	md, now := s.begin(md)
	c.At = now
	return s.changeSettings(ctx, md, c, ifMatch)
}

// PutDunningSettings replaces the dunning policy as a whole
// (settings.dunning_changed; nothing when it is already so): the retry
// days after a failed charge and the final action once the last retry has
// failed. c.At is set by the service. Validation errors name retry_days,
// retry_days[i] or final_action. New failures follow the new policy; a
// retry already scheduled keeps its time.
func (s *Service) PutDunningSettings(ctx context.Context, md eventstore.Metadata, c settings.ChangeDunning, ifMatch *uint64) (SettingsResult, error) {
	md, now := s.begin(md)
	c.At = now
	return s.changeSettings(ctx, md, c, ifMatch)
}

// changeSettings runs c against the settings stream.
func (s *Service) changeSettings(ctx context.Context, md eventstore.Metadata, c settings.Command, ifMatch *uint64) (SettingsResult, error) {
	res, w, err := execute(ctx, s, settings.Aggregate, settings.Stream(), options(md, ifMatch), c)
	if err != nil {
		return SettingsResult{}, err
	}
	return SettingsResult{Settings: res.State, Written: w}, nil
}
