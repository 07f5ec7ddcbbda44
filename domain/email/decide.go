package email

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/subsd/subsd/domain"
)

// The email's business-rule errors.
var (
	// ErrEmailNotFound: the email was never planned.
	ErrEmailNotFound = domain.NotFound("email_not_found", "the email does not exist")
	// ErrEmailIDTaken: a Plan reuses an email id for another email.
	ErrEmailIDTaken = domain.Conflict("email_id_taken", "another email already has this id")
	// ErrEmailAlreadySent: the email went out, so a failure report for it is
	// wrong.
	ErrEmailAlreadySent = domain.Conflict("email_already_sent", "the email has already been sent")
	// ErrEmailFailedPermanently: the email failed for good and cannot be sent.
	ErrEmailFailedPermanently = domain.Conflict("email_failed_permanently", "the email failed permanently")
)

// Limits on the text an email carries.
const (
	MaxSubjectLength       = 200
	MaxFailureReasonLength = 500
)

// Decide answers a command with the events it causes, or an error: a
// validation error naming the field, or one of the sentinels above. Each
// command's doc says which repeats are no-ops.
func Decide(s State, c Command) ([]Event, error) {
	switch c := c.(type) {
	case Plan:
		return plan(s, c)
	case MarkSent:
		return markSent(s, c)
	case MarkFailed:
		return markFailed(s, c)
	case Cancel:
		return cancel(s, c)
	}
	return nil, domain.Invalid("", "unknown email command %T", c)
}

func plan(s State, c Plan) ([]Event, error) {
	if s.Exists() {
		switch {
		case s.CustomerID != c.CustomerID || s.Type != c.Type:
			return nil, ErrEmailIDTaken
		case s.Status != StatusCanceled || s.Reason.EventID == c.Reason.EventID:
			return nil, nil
		}
		// A canceled email planned again by another cause: the charge
		// whose reminder a pause withdrew is back on after the resume.
	}
	e := Planned{Subject: strings.TrimSpace(c.Subject), Reason: c.Reason, Data: c.Data}
	var err error
	if e.EmailID, err = domain.ParseEmailID(string(c.EmailID)); err != nil {
		return nil, err
	}
	if e.CustomerID, err = domain.ParseCustomerID(string(c.CustomerID)); err != nil {
		return nil, err
	}
	if e.Type, err = ParseType(string(c.Type)); err != nil {
		return nil, err
	}
	if e.Recipient, err = domain.ParseEmail(string(c.Recipient)); err != nil {
		return nil, domain.PrefixField("recipient", withoutField(err))
	}
	if err := checkText("subject", e.Subject, MaxSubjectLength); err != nil {
		return nil, err
	}
	if strings.TrimSpace(c.Reason.EventID) == "" {
		return nil, domain.Invalid("reason.event_id", "an email needs the id of the event that caused it")
	}
	if c.PlannedAt.IsZero() {
		return nil, domain.Invalid("planned_at", "planned_at is required")
	}
	e.PlannedAt = c.PlannedAt.UTC()
	e.Data.ChargeAt = utc(e.Data.ChargeAt)
	e.Data.RetryAt = utc(e.Data.RetryAt)
	e.Data.PickedUpAt = utc(e.Data.PickedUpAt)
	e.Data.EndsAt = utc(e.Data.EndsAt)
	return []Event{e}, nil
}

func markSent(s State, c MarkSent) ([]Event, error) {
	if err := exists(s, c.EmailID, c.At); err != nil {
		return nil, err
	}
	switch {
	case s.Status == StatusSent:
		return nil, nil
	case s.Status == StatusFailed && s.Permanent:
		return nil, ErrEmailFailedPermanently
	}
	id := strings.TrimSpace(c.MessageID)
	if err := checkText("message_id", id, 998); err != nil {
		return nil, err
	}
	return []Event{Sent{EmailID: s.ID, MessageID: id, SentAt: c.At.UTC()}}, nil
}

func markFailed(s State, c MarkFailed) ([]Event, error) {
	if err := exists(s, c.EmailID, c.At); err != nil {
		return nil, err
	}
	switch {
	case s.Status == StatusSent:
		return nil, ErrEmailAlreadySent
	case !s.Sendable():
		return nil, nil // canceled or failed for good: nothing left to fail
	}
	return []Event{Failed{EmailID: s.ID, Reason: cut(c.Reason, MaxFailureReasonLength), Permanent: c.Permanent, FailedAt: c.At.UTC()}}, nil
}

func cancel(s State, c Cancel) ([]Event, error) {
	if !s.Exists() {
		// The policy cancels a charge reminder by its derived id without
		// knowing whether one was planned (it is not when the charge was
		// too close): there is nothing to withdraw.
		return nil, nil
	}
	if err := exists(s, c.EmailID, c.At); err != nil {
		return nil, err
	}
	if !s.Sendable() {
		return nil, nil // sent (too late to withdraw), canceled, or failed for good
	}
	return []Event{Canceled{EmailID: s.ID, Reason: cut(c.Reason, MaxFailureReasonLength), CanceledAt: c.At.UTC()}}, nil
}

func exists(s State, id domain.EmailID, at time.Time) error {
	if !s.Exists() || s.ID != id {
		return ErrEmailNotFound
	}
	if at.IsZero() {
		return domain.Invalid("at", "the command has no time")
	}
	return nil
}

// checkText requires 1..max characters of valid text without control
// characters.
func checkText(field, v string, max int) error {
	switch {
	case v == "":
		return domain.Invalid(field, "%s is required", field)
	case !utf8.ValidString(v) || utf8.RuneCountInString(v) > max:
		return domain.Invalid(field, "%s must be valid text of at most %d characters", field, max)
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return domain.Invalid(field, "%s must not contain control characters", field)
	}
	return nil
}

// cut trims s, makes it valid UTF-8 and keeps at most max characters: a
// failure report is recorded whatever the server answered.
func cut(s string, max int) string {
	s = strings.ToValidUTF8(strings.TrimSpace(s), "\uFFFD")
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	return string([]rune(s)[:max])
}

func withoutField(err error) error {
	if e, ok := err.(*domain.Error); ok {
		return e.WithField("")
	}
	return err
}

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}
