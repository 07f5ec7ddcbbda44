package email

import (
	"time"

	"github.com/subsd/subsd/domain"
)

// Event is the closed set of email events.
type Event interface {
	domain.Event
	isEvent()
}

// Planned: the email is in the history and will go out at PlannedAt.
// Recipient and Data may hold personal data (names, addresses), which the
// event store encrypts with the customer's key like every other personal
// field.
type Planned struct {
	EmailID    domain.EmailID    `json:"email_id"`
	CustomerID domain.CustomerID `json:"customer_id"`
	Type       Type              `json:"type"`
	Recipient  domain.Email      `json:"recipient"`
	Subject    string            `json:"subject"`
	Reason     Reason            `json:"reason"`
	PlannedAt  time.Time         `json:"planned_at"`
	Data       Data              `json:"data"`
}

// Sent: the mail server accepted the email.
type Sent struct {
	EmailID   domain.EmailID `json:"email_id"`
	MessageID string         `json:"message_id"`
	SentAt    time.Time      `json:"sent_at"`
}

// Failed: an attempt to send failed; Permanent says whether it is final.
type Failed struct {
	EmailID   domain.EmailID `json:"email_id"`
	Reason    string         `json:"reason"`
	Permanent bool           `json:"permanent"`
	FailedAt  time.Time      `json:"failed_at"`
}

// Canceled: the email will not go out.
type Canceled struct {
	EmailID    domain.EmailID `json:"email_id"`
	Reason     string         `json:"reason,omitempty"`
	CanceledAt time.Time      `json:"canceled_at"`
}

// EventType returns the stored name "email.planned".
func (Planned) EventType() string { return "email.planned" }

// EventType returns the stored name "email.sent".
func (Sent) EventType() string { return "email.sent" }

// EventType returns the stored name "email.failed".
func (Failed) EventType() string { return "email.failed" }

// EventType returns the stored name "email.canceled".
func (Canceled) EventType() string { return "email.canceled" }

func (Planned) isEvent()  {}
func (Sent) isEvent()     {}
func (Failed) isEvent()   {}
func (Canceled) isEvent() {}

// Codec stores and loads email events.
var Codec = domain.NewCodec[Event]()

func init() {
	domain.Register[Planned](Codec)
	domain.Register[Sent](Codec)
	domain.Register[Failed](Codec)
	domain.Register[Canceled](Codec)
}
