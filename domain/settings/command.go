// Package settings is the business's configuration that rules depend on,
// as an aggregate with one stream (StreamName), so that every change is in
// the log and as_of replays see the settings of their time:
//
//   - Email (GET|PUT /v1/settings/email): whether track & trace is on, how
//     many days before a charge its reminder goes out, the sender.
//   - Dunning: the retry days after a failed charge and what happens to the
//     subscription when the last retry fails.
//
// The zero State holds the defaults (DefaultEmail, DefaultDunning). The
// rules that use a setting receive it in their command (order.AddTracking's
// TrackAndTraceEnabled, invoice.RecordAttemptFailed's RetrySchedule, which
// Dunning.RetryDays converts to directly, subscription.MarkPastDue's
// FinalAction) or their input (email.PolicyInput.Settings).
package settings

import (
	"time"

	"github.com/subsd/subsd/domain"
)

// Command is the closed set of settings changes.
type Command interface{ isCommand() }

// ChangeEmailSettings replaces the email settings as a whole
// (PUT /v1/settings/email). Every field is required: ChargeReminderDaysBefore
// 0..MaxChargeReminderDaysBefore (0 reminds on the day of the charge),
// FromName 1..100 characters, FromAddress a valid address. Setting what is
// already set emits nothing.
type ChangeEmailSettings struct {
	TrackAndTraceEnabled     bool
	ChargeReminderDaysBefore int
	FromName                 string
	FromAddress              domain.Email
	At                       time.Time
}

// ChangeDunning replaces what happens after a failed charge: RetryDays are
// the retries in days after the first failure, strictly increasing, each
// 1..MaxRetryDay, at most MaxRetries of them (none: no retries); FinalAction
// is what happens once the last retry has failed. Setting what is already
// set emits nothing.
type ChangeDunning struct {
	RetryDays   []int
	FinalAction FinalAction
	At          time.Time
}

func (ChangeEmailSettings) isCommand() {}
func (ChangeDunning) isCommand()       {}
