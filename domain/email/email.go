package email

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"time"

	"github.com/subsd/subsd/domain"
)

// Type is the kind of email; each has its own template.
type Type string

// The email types (API.md).
const (
	SubscriptionConfirmation Type = "subscription_confirmation"
	OrderConfirmation        Type = "order_confirmation"
	ShippingConfirmation     Type = "shipping_confirmation"
	TrackAndTrace            Type = "track_and_trace"
	PickupConfirmation       Type = "pickup_confirmation"
	ChargeReminder           Type = "charge_reminder"
	PaymentReceipt           Type = "payment_receipt"
	PaymentFailed            Type = "payment_failed"
	RefundIssued             Type = "refund_issued"
	CancellationConfirmation Type = "cancellation_confirmation"
	ReturnLabel              Type = "return_label"
)

// Types lists every Type, in API.md's order.
func Types() []Type {
	return []Type{
		SubscriptionConfirmation, OrderConfirmation, ShippingConfirmation, TrackAndTrace, PickupConfirmation,
		ChargeReminder, PaymentReceipt, PaymentFailed, RefundIssued, CancellationConfirmation, ReturnLabel,
	}
}

// ParseType accepts one of Types.
func ParseType(s string) (Type, error) {
	for _, t := range Types() {
		if string(t) == s {
			return t, nil
		}
	}
	return "", domain.Invalid("type", "type must be one of the email types, got %q", s)
}

// Status is where an email is in its life (API.md: planned|sent|failed,
// plus canceled for a planned email that will not go out).
type Status string

// The statuses.
const (
	StatusPlanned  Status = "planned"
	StatusSent     Status = "sent"
	StatusFailed   Status = "failed"
	StatusCanceled Status = "canceled"
)

// Reason says why an email exists: the event that caused it and the business
// thing it is about.
type Reason struct {
	// EventID is the id of the causing event in the log (required).
	EventID string `json:"event_id"`
	// EventType is its stored type name, e.g. "order.created".
	EventType string `json:"event_type"`
	// Reference is the id of what the email is about: an ord_, inv_, sub_
	// or cus_ id.
	Reference string `json:"reference,omitempty"`
}

// Data is what a template needs beyond the recipient. Every field is
// optional; each type uses its own (the policy's table says which).
type Data struct {
	// FirstName is the salutation.
	FirstName      string                `json:"first_name,omitempty"`
	SubscriptionID domain.SubscriptionID `json:"subscription_id,omitempty"`
	PlanName       string                `json:"plan_name,omitempty"`
	OrderID        domain.OrderID        `json:"order_id,omitempty"`
	OrderNumber    string                `json:"order_number,omitempty"`
	InvoiceID      domain.InvoiceID      `json:"invoice_id,omitempty"`
	InvoiceNumber  string                `json:"invoice_number,omitempty"`
	// Amount is the charge, payment or refund amount.
	Amount *domain.Money `json:"amount,omitempty"`
	// ChargeAt is when a reminded charge will happen.
	ChargeAt time.Time `json:"charge_at,omitzero"`
	// RetryAt is when a failed charge will be tried again.
	RetryAt      time.Time `json:"retry_at,omitzero"`
	TrackingCode string    `json:"tracking_code,omitempty"`
	TrackingURL  string    `json:"tracking_url,omitempty"`
	Carrier      string    `json:"carrier,omitempty"`
	PickedUpAt   time.Time `json:"picked_up_at,omitzero"`
	// EndsAt is when a canceled subscription ends.
	EndsAt time.Time `json:"ends_at,omitzero"`
	// LabelID names the return-label PDF to attach.
	LabelID string `json:"label_id,omitempty"`
}

// StreamPrefix starts the name of every email stream.
const StreamPrefix = "email-"

// Stream returns the name of the email's stream.
func Stream(id domain.EmailID) string { return StreamPrefix + string(id) }

// IDFor returns the email id of the email of type t that the event with id
// eventID causes: "eml_" and 32 hex digits of SHA-256 over both. It is a
// pure function of its inputs, so replaying the policy plans the same ids
// and a second Plan for the same email is a no-op.
func IDFor(eventID string, t Type) domain.EmailID {
	return hashID(eventID, string(t))
}

// ChargeReminderID returns the id of the reminder for the charge of
// subscription sub at chargeAt. It is keyed by the charge rather than by
// the event that scheduled it, so that the event that cancels or moves a
// charge can name the reminder to cancel.
func ChargeReminderID(sub domain.SubscriptionID, chargeAt time.Time) domain.EmailID {
	return hashID(string(sub), chargeAt.UTC().Format(time.RFC3339Nano), string(ChargeReminder))
}

func hashID(parts ...string) domain.EmailID {
	h := sha256.New()
	for _, p := range parts {
		// Length-prefixed, so ("ab", "c") and ("a", "bc") differ.
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(p))))
		h.Write([]byte(p))
	}
	return domain.EmailID(domain.EmailPrefix + hex.EncodeToString(h.Sum(nil))[:32])
}
