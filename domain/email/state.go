package email

import (
	"time"

	"github.com/subsd/subsd/domain"
)

// State is one email as its history made it. The zero State is an email
// that was never planned.
type State struct {
	ID         domain.EmailID
	CustomerID domain.CustomerID
	Type       Type
	Recipient  domain.Email
	Subject    string
	Reason     Reason
	PlannedAt  time.Time
	Data       Data
	Status     Status
	SentAt     time.Time
	MessageID  string
	// Failures counts failed attempts; LastFailure is the latest reason.
	Failures    int
	LastFailure string
	FailedAt    time.Time
	// Permanent is set by a permanent failure: the email will never go out.
	Permanent  bool
	CanceledAt time.Time
}

// Exists reports whether the email was planned.
func (s State) Exists() bool { return s.ID != "" }

// Sendable reports whether the mail worker may (still) send the email: it
// is planned, or its last failure was transient. The worker also waits for
// PlannedAt.
func (s State) Sendable() bool {
	return s.Status == StatusPlanned || (s.Status == StatusFailed && !s.Permanent)
}

// Evolve applies one event.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case Planned:
		s.ID, s.CustomerID, s.Type = e.EmailID, e.CustomerID, e.Type
		s.Recipient, s.Subject, s.Reason = e.Recipient, e.Subject, e.Reason
		s.PlannedAt, s.Data = e.PlannedAt, e.Data
		s.Status, s.CanceledAt = StatusPlanned, time.Time{}
	case Sent:
		s.Status, s.SentAt, s.MessageID = StatusSent, e.SentAt, e.MessageID
	case Failed:
		s.Status = StatusFailed
		s.Failures++
		s.LastFailure, s.FailedAt, s.Permanent = e.Reason, e.FailedAt, e.Permanent
	case Canceled:
		s.Status, s.CanceledAt = StatusCanceled, e.CanceledAt
	}
	return s
}

// Aggregate describes the email aggregate to the command runner.
var Aggregate = domain.Aggregate[State, Command, Event]{Codec: Codec, Decide: Decide, Evolve: Evolve}

// Fold returns the state after events, starting from an email never planned.
func Fold(events ...Event) State { return Aggregate.Fold(events...) }
