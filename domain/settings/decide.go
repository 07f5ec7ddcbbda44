package settings

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/subsd/subsd/domain"
)

// Decide answers a command with the events it causes, or a validation error
// naming the request field (charge_reminder_days_before, from_name,
// from_address, retry_days[2], final_action). Settings are always
// changeable. A change to what was last set emits nothing; the first change
// is recorded even when it equals the built-in defaults, so that a later
// change of those defaults does not move a setting the business chose.
func Decide(s State, c Command) ([]Event, error) {
	switch c := c.(type) {
	case ChangeEmailSettings:
		return changeEmail(s, c)
	case ChangeDunning:
		return changeDunning(s, c)
	}
	return nil, domain.Invalid("", "unknown settings command %T", c)
}

func changeEmail(s State, c ChangeEmailSettings) ([]Event, error) {
	if c.At.IsZero() {
		return nil, domain.Invalid("at", "the command has no time")
	}
	if c.ChargeReminderDaysBefore < 0 || c.ChargeReminderDaysBefore > MaxChargeReminderDaysBefore {
		return nil, domain.Invalid("charge_reminder_days_before", "charge_reminder_days_before must be between 0 and %d, got %d", MaxChargeReminderDaysBefore, c.ChargeReminderDaysBefore)
	}
	name := strings.TrimSpace(c.FromName)
	switch {
	case name == "":
		return nil, domain.Invalid("from_name", "from_name is required")
	case !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxFromNameLength:
		return nil, domain.Invalid("from_name", "from_name must be valid text of at most %d characters", MaxFromNameLength)
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		// A newline in a header value is header injection.
		return nil, domain.Invalid("from_name", "from_name must not contain control characters")
	}
	addr, err := domain.ParseEmail(string(c.FromAddress))
	if err != nil {
		var de *domain.Error
		if errors.As(err, &de) {
			err = de.WithField("from_address")
		}
		return nil, err
	}
	v := Email{TrackAndTraceEnabled: c.TrackAndTraceEnabled, ChargeReminderDaysBefore: c.ChargeReminderDaysBefore, FromName: name, FromAddress: addr}
	if s.email != nil && *s.email == v {
		return nil, nil
	}
	return []Event{EmailSettingsChanged{Email: v, ChangedAt: c.At.UTC()}}, nil
}

func changeDunning(s State, c ChangeDunning) ([]Event, error) {
	if c.At.IsZero() {
		return nil, domain.Invalid("at", "the command has no time")
	}
	if len(c.RetryDays) > MaxRetries {
		return nil, domain.Invalid("retry_days", "at most %d retries, got %d", MaxRetries, len(c.RetryDays))
	}
	for i, d := range c.RetryDays {
		field := fmt.Sprintf("retry_days[%d]", i)
		if d < 1 || d > MaxRetryDay {
			return nil, domain.Invalid(field, "a retry is 1 to %d days after the failure, got %d", MaxRetryDay, d)
		}
		if i > 0 && d <= c.RetryDays[i-1] {
			return nil, domain.Invalid(field, "retry days must be strictly increasing, got %d after %d", d, c.RetryDays[i-1])
		}
	}
	switch c.FinalAction {
	case CancelAtPeriodEnd, CancelNow, KeepPastDue:
	default:
		return nil, domain.Invalid("final_action", "final_action must be cancel_at_period_end, cancel_now or keep_past_due, got %q", c.FinalAction)
	}
	v := Dunning{RetryDays: slices.Clone(c.RetryDays), FinalAction: c.FinalAction}
	if v.RetryDays == nil {
		v.RetryDays = []int{}
	}
	if s.dunning != nil && slices.Equal(s.dunning.RetryDays, v.RetryDays) && s.dunning.FinalAction == v.FinalAction {
		return nil, nil
	}
	return []Event{DunningChanged{Dunning: v, ChangedAt: c.At.UTC()}}, nil
}
