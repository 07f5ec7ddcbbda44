package settings

import (
	"slices"
	"time"

	"github.com/subsd/subsd/domain"
)

// StreamName is the one stream that holds the business's settings: there is
// a single settings aggregate, so it has no id.
const StreamName = StreamPrefix + "business"

// StreamPrefix starts the name of the settings stream.
const StreamPrefix = "settings-"

// Stream returns StreamName.
func Stream() string { return StreamName }

// Email is the email configuration (GET|PUT /v1/settings/email).
type Email struct {
	// TrackAndTraceEnabled must be on before tracking can be sent: the
	// order aggregate answers track_and_trace_disabled while it is off, and
	// the email policy plans no tracking email.
	TrackAndTraceEnabled bool `json:"track_and_trace_enabled"`
	// ChargeReminderDaysBefore is how many calendar days (in the business
	// zone) before a charge its charge_reminder email goes out.
	ChargeReminderDaysBefore int `json:"charge_reminder_days_before"`
	// FromName and FromAddress are the sender of every email. Until they are
	// set they are empty and the mail worker uses its configured sender.
	FromName    string       `json:"from_name"`
	FromAddress domain.Email `json:"from_address"`
}

// FinalAction is what happens to a subscription once the last retry of a
// failed charge has failed (and the subscription is past_due).
type FinalAction string

// The final actions.
const (
	// CancelAtPeriodEnd cancels at the end of the paid period, with a
	// cancellation_confirmation email (API.md's default).
	CancelAtPeriodEnd FinalAction = "cancel_at_period_end"
	// CancelNow cancels at once.
	CancelNow FinalAction = "cancel_now"
	// KeepPastDue leaves the subscription past_due for a person to resolve
	// (subscription.FinalActionNone; the other two have the same names
	// there).
	KeepPastDue FinalAction = "keep_past_due"
)

// Dunning is the retry policy for failed charges.
type Dunning struct {
	// RetryDays are the retries in days after the first failure, strictly
	// increasing; empty means no retries. Once set it is never nil, because
	// invoice.RetrySchedule(nil) means "the default schedule".
	RetryDays   []int       `json:"retry_days"`
	FinalAction FinalAction `json:"final_action"`
}

// The defaults and limits.
const (
	DefaultChargeReminderDaysBefore = 3
	MaxChargeReminderDaysBefore     = 30
	MaxRetries                      = 10
	MaxRetryDay                     = 60
	MaxFromNameLength               = 100
)

// DefaultEmail returns the email settings before any were set: track & trace
// off (API.md: the feature must first be activated), reminders 3 days ahead,
// the mail worker's own sender.
func DefaultEmail() Email {
	return Email{ChargeReminderDaysBefore: DefaultChargeReminderDaysBefore}
}

// DefaultDunning returns the dunning configuration before any was set:
// retries 1, 3, 5 and 7 days after the failure, then cancel at the end of the
// period (API.md).
func DefaultDunning() Dunning {
	return Dunning{RetryDays: []int{1, 3, 5, 7}, FinalAction: CancelAtPeriodEnd}
}

// State is the current settings. The zero State holds the defaults; read it
// through Email and Dunning.
type State struct {
	email   *Email
	dunning *Dunning
	// ChangedAt is the time of the last change; zero while all are defaults.
	ChangedAt time.Time
}

// Email returns the current email settings.
func (s State) Email() Email {
	if s.email == nil {
		return DefaultEmail()
	}
	return *s.email
}

// Dunning returns the current dunning configuration. The slice is the
// caller's to keep.
func (s State) Dunning() Dunning {
	d := DefaultDunning()
	if s.dunning != nil {
		d = *s.dunning
	}
	d.RetryDays = slices.Clone(d.RetryDays)
	return d
}

// Evolve applies one event.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case EmailSettingsChanged:
		v := e.Email
		s.email = &v
		s.ChangedAt = e.ChangedAt
	case DunningChanged:
		v := e.Dunning
		v.RetryDays = slices.Clone(v.RetryDays)
		s.dunning = &v
		s.ChangedAt = e.ChangedAt
	}
	return s
}

// Aggregate describes the settings aggregate to the command runner.
var Aggregate = domain.Aggregate[State, Command, Event]{Codec: Codec, Decide: Decide, Evolve: Evolve}

// Fold returns the settings after events, starting from the defaults.
func Fold(events ...Event) State { return Aggregate.Fold(events...) }
