// Package email is the email aggregate, one stream per email, and the email
// policy that decides which business event plans which email.
//
// An email is in the customer's history from the moment it is planned
// (Plan → Planned, status planned), and the mail worker sends it once its
// PlannedAt has come (MarkSent → Sent). A sent email is never sent twice:
// MarkSent on a sent email is a no-op, and the worker sends only what
// State.Sendable allows. A transient failure (MarkFailed → Failed) shows as
// failed but may still be sent by a retry; a permanent one is final. A
// charge reminder whose charge no longer happens is withdrawn (Cancel →
// Canceled, status canceled, which API.md's planned|sent|failed gains
// additively).
//
// Policy is a pure function from a business event (customer, subscription,
// order or invoice) to the Plan and Cancel commands it causes; its doc holds
// the table of which event plans which email. Email ids are derived from
// the cause (IDFor, ChargeReminderID), so a replay plans nothing twice.
package email

import (
	"time"

	"github.com/subsd/subsd/domain"
)

// Command is the closed set of things that can happen to an email.
type Command interface{ isCommand() }

// Plan puts an email in the customer's history before it goes out. The
// email policy (Policy) issues Plans; the mail worker sends every planned
// email once PlannedAt has come.
//
// Planning an id that already exists is ErrEmailIDTaken when the customer or type
// differ, and otherwise a no-op (a replayed policy plans the same email;
// ids are derived from their cause), with one exception: a canceled email
// planned again by another cause is planned anew. Charge reminders need
// that: their id names the charge, and a charge withdrawn by a pause can be
// back on after the resume.
type Plan struct {
	EmailID    domain.EmailID
	CustomerID domain.CustomerID
	Type       Type
	Recipient  domain.Email
	// Subject is the subject line: 1 to MaxSubjectLength characters, no
	// control characters (a newline in a header is header injection).
	Subject string
	Reason  Reason
	// PlannedAt is when the email should go out; at or before now means at
	// once.
	PlannedAt time.Time
	Data      Data
}

// MarkSent records that the mail server accepted the email. Marking a sent
// email sent again is a no-op, so a retried worker records it once. A
// canceled email that was sent anyway (the cancel lost a race with the
// worker) is recorded as sent: the log tells what happened.
type MarkSent struct {
	EmailID domain.EmailID
	// MessageID is the Message-ID the email went out with (required).
	MessageID string
	At        time.Time
}

// MarkFailed records a failed attempt. A Permanent failure (the recipient
// does not exist, the message was refused) is final; a transient one leaves
// the email sendable, so a later retry may still send it. Reason is the
// server's answer, cut to MaxFailureReasonLength characters.
type MarkFailed struct {
	EmailID   domain.EmailID
	Reason    string
	Permanent bool
	At        time.Time
}

// Cancel withdraws an email that has not gone out, e.g. the charge_reminder
// of a charge that no longer happens (the subscription was canceled or
// paused, or the charge moved). Where there is nothing to withdraw it is a
// no-op: the email was never planned, already went out, was canceled, or
// failed for good. That lets the policy cancel by derived id without
// knowing what became of the email, and a reactor apply it without special
// cases.
type Cancel struct {
	EmailID domain.EmailID
	Reason  string
	At      time.Time
}

func (Plan) isCommand()       {}
func (MarkSent) isCommand()   {}
func (MarkFailed) isCommand() {}
func (Cancel) isCommand()     {}
