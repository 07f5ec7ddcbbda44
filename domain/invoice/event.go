package invoice

import (
	"time"

	"github.com/subsd/subsd/domain"
)

// StreamPrefix starts the name of every invoice stream.
const StreamPrefix = "invoice-"

// Stream returns the name of the invoice's stream.
func Stream(id domain.InvoiceID) string { return StreamPrefix + string(id) }

// Event is the closed set of the invoice's events. Every event carries the
// invoice, customer and (when there is one) subscription id, which is how
// projections and reactors (payments list, subscription activation and
// past_due, emails) find what it concerns; and every amount, total and time
// it implies, so that Evolve only copies.
type Event interface {
	domain.Event
	isEvent()
}

// Codec stores and loads the invoice's events.
var Codec = domain.NewCodec[Event]()

func init() {
	domain.Register[Created](Codec)
	domain.Register[AttemptStarted](Codec)
	domain.Register[AttemptProcessing](Codec)
	domain.Register[AttemptSucceeded](Codec)
	domain.Register[Paid](Codec)
	domain.Register[AttemptFailed](Codec)
	domain.Register[RetryScheduled](Codec)
	domain.Register[RetriesExhausted](Codec)
	domain.Register[Refunded](Codec)
	domain.Register[Voided](Codec)
}

// Created ("invoice.created") is a numbered, open invoice. Amount is the
// total to charge (Σ Lines.Net), VAT included. CustomerName and the
// addresses are what the invoice document prints; they are personal data
// (DESIGN.md 8) and kept as the law requires for invoices.
type Created struct {
	InvoiceID       domain.InvoiceID      `json:"invoice_id"`
	Number          domain.InvoiceNumber  `json:"number"`
	CustomerID      domain.CustomerID     `json:"customer_id"`
	CustomerName    string                `json:"customer_name"`
	SubscriptionID  domain.SubscriptionID `json:"subscription_id,omitempty"`
	Cycle           int                   `json:"cycle,omitempty"`
	OrderID         domain.OrderID        `json:"order_id,omitempty"`
	Lines           []domain.PricedLine   `json:"lines"`
	Subtotal        domain.Money          `json:"subtotal"`
	Discount        domain.Money          `json:"discount"`
	Amount          domain.Money          `json:"amount"`
	VATRate         domain.VATRate        `json:"vat_rate_bp"`
	VAT             domain.Money          `json:"vat"`
	BillingAddress  domain.Address        `json:"billing_address"`
	ShippingAddress *domain.Address       `json:"shipping_address,omitempty"`
	DueOn           domain.Date           `json:"due_on"`
	CreatedAt       time.Time             `json:"created_at"`
}

// AttemptStarted ("invoice.attempt_started") is a charge attempt about to be
// sent to Stripe with PaymentID as its idempotency key. It cancels a pending
// scheduled retry.
type AttemptStarted struct {
	InvoiceID      domain.InvoiceID      `json:"invoice_id"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	SubscriptionID domain.SubscriptionID `json:"subscription_id,omitempty"`
	PaymentID      domain.PaymentID      `json:"payment_id"`
	Attempt        int                   `json:"attempt"`
	Amount         domain.Money          `json:"amount"`
	StartedAt      time.Time             `json:"started_at"`
}

// AttemptProcessing ("invoice.attempt_processing") is an attempt Stripe
// accepted without an outcome yet.
type AttemptProcessing struct {
	InvoiceID       domain.InvoiceID  `json:"invoice_id"`
	CustomerID      domain.CustomerID `json:"customer_id"`
	PaymentID       domain.PaymentID  `json:"payment_id"`
	Attempt         int               `json:"attempt"`
	PaymentIntentID string            `json:"payment_intent_id"`
	ProcessingAt    time.Time         `json:"processing_at"`
}

// AttemptSucceeded ("invoice.attempt_succeeded") is money collected by one
// attempt. PaidTotal is all the invoice has collected after it. AfterFailure
// marks a success that overturned a recorded failure of the same attempt;
// Duplicate marks money collected although another attempt had already paid
// the invoice (to be refunded). The first success is followed by Paid.
type AttemptSucceeded struct {
	InvoiceID       domain.InvoiceID      `json:"invoice_id"`
	CustomerID      domain.CustomerID     `json:"customer_id"`
	SubscriptionID  domain.SubscriptionID `json:"subscription_id,omitempty"`
	PaymentID       domain.PaymentID      `json:"payment_id"`
	Attempt         int                   `json:"attempt"`
	PaymentIntentID string                `json:"payment_intent_id"`
	Amount          domain.Money          `json:"amount"`
	PaidTotal       domain.Money          `json:"paid_total"`
	AfterFailure    bool                  `json:"after_failure,omitempty"`
	Duplicate       bool                  `json:"duplicate,omitempty"`
	SucceededAt     time.Time             `json:"succeeded_at"`
}

// Paid ("invoice.paid") is the invoice paid, once: what the subscription
// needs to activate (first cycle) or to count the cycle paid, the payment
// receipt email, and the customer's total paid.
type Paid struct {
	InvoiceID       domain.InvoiceID      `json:"invoice_id"`
	Number          domain.InvoiceNumber  `json:"number"`
	CustomerID      domain.CustomerID     `json:"customer_id"`
	SubscriptionID  domain.SubscriptionID `json:"subscription_id,omitempty"`
	Cycle           int                   `json:"cycle,omitempty"`
	OrderID         domain.OrderID        `json:"order_id,omitempty"`
	PaymentID       domain.PaymentID      `json:"payment_id"`
	PaymentIntentID string                `json:"payment_intent_id"`
	Amount          domain.Money          `json:"amount"`
	PaidAt          time.Time             `json:"paid_at"`
}

// AttemptFailed ("invoice.attempt_failed") is a declined or failed attempt.
// Hard is the domain's classification of DeclineCode (IsHardDecline). It is
// followed by RetryScheduled or RetriesExhausted while the invoice is unpaid.
type AttemptFailed struct {
	InvoiceID       domain.InvoiceID      `json:"invoice_id"`
	CustomerID      domain.CustomerID     `json:"customer_id"`
	SubscriptionID  domain.SubscriptionID `json:"subscription_id,omitempty"`
	PaymentID       domain.PaymentID      `json:"payment_id"`
	Attempt         int                   `json:"attempt"`
	PaymentIntentID string                `json:"payment_intent_id,omitempty"`
	DeclineCode     string                `json:"decline_code,omitempty"`
	Message         string                `json:"message,omitempty"`
	Hard            bool                  `json:"hard"`
	FailedAt        time.Time             `json:"failed_at"`
}

// RetryScheduled ("invoice.retry_scheduled") is retry number Retry, to be
// made as attempt number Attempt at RetryAt. The retry job starts exactly
// that attempt, so a job that fires after a manual retry or a payment finds
// its attempt taken (or the invoice paid) and does nothing.
type RetryScheduled struct {
	InvoiceID      domain.InvoiceID      `json:"invoice_id"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	SubscriptionID domain.SubscriptionID `json:"subscription_id,omitempty"`
	Retry          int                   `json:"retry"`
	Attempt        int                   `json:"attempt"`
	RetryAt        time.Time             `json:"retry_at"`
	ScheduledAt    time.Time             `json:"scheduled_at"`
}

// ExhaustedReason says why no automatic retry follows.
type ExhaustedReason string

// The reasons retries are exhausted.
const (
	// ExhaustedHardDecline: the last attempt was declined hard.
	ExhaustedHardDecline ExhaustedReason = "hard_decline"
	// ExhaustedSchedule: the last retry of the schedule failed.
	ExhaustedSchedule ExhaustedReason = "schedule_exhausted"
)

// RetriesExhausted ("invoice.retries_exhausted") is dunning given up: no
// automatic retry follows. The subscription reactor marks SubscriptionID
// past_due on it (when set) and applies the configured consequence; it
// carries the cycle, order and amount so that the reactor and the email need
// nothing else. It happens at most once per invoice.
type RetriesExhausted struct {
	InvoiceID       domain.InvoiceID      `json:"invoice_id"`
	Number          domain.InvoiceNumber  `json:"number"`
	CustomerID      domain.CustomerID     `json:"customer_id"`
	SubscriptionID  domain.SubscriptionID `json:"subscription_id,omitempty"`
	Cycle           int                   `json:"cycle,omitempty"`
	OrderID         domain.OrderID        `json:"order_id,omitempty"`
	Amount          domain.Money          `json:"amount"`
	Attempts        int                   `json:"attempts"`
	LastDeclineCode string                `json:"last_decline_code,omitempty"`
	Reason          ExhaustedReason       `json:"reason"`
	ExhaustedAt     time.Time             `json:"exhausted_at"`
}

// Refunded ("invoice.refunded") is money given back through Stripe.
// RefundedTotal is all refunded after it; Full means nothing paid is left.
type Refunded struct {
	InvoiceID      domain.InvoiceID      `json:"invoice_id"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	SubscriptionID domain.SubscriptionID `json:"subscription_id,omitempty"`
	RefundID       string                `json:"refund_id"`
	Amount         domain.Money          `json:"amount"`
	RefundedTotal  domain.Money          `json:"refunded_total"`
	Full           bool                  `json:"full"`
	RefundedAt     time.Time             `json:"refunded_at"`
}

// Voided ("invoice.voided") is an invoice that will not be charged.
type Voided struct {
	InvoiceID      domain.InvoiceID      `json:"invoice_id"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	SubscriptionID domain.SubscriptionID `json:"subscription_id,omitempty"`
	Reason         string                `json:"reason,omitempty"`
	VoidedAt       time.Time             `json:"voided_at"`
}

// EventType returns "invoice.created".
func (Created) EventType() string { return "invoice.created" }

// EventType returns "invoice.attempt_started".
func (AttemptStarted) EventType() string { return "invoice.attempt_started" }

// EventType returns "invoice.attempt_processing".
func (AttemptProcessing) EventType() string { return "invoice.attempt_processing" }

// EventType returns "invoice.attempt_succeeded".
func (AttemptSucceeded) EventType() string { return "invoice.attempt_succeeded" }

// EventType returns "invoice.paid".
func (Paid) EventType() string { return "invoice.paid" }

// EventType returns "invoice.attempt_failed".
func (AttemptFailed) EventType() string { return "invoice.attempt_failed" }

// EventType returns "invoice.retry_scheduled".
func (RetryScheduled) EventType() string { return "invoice.retry_scheduled" }

// EventType returns "invoice.retries_exhausted".
func (RetriesExhausted) EventType() string { return "invoice.retries_exhausted" }

// EventType returns "invoice.refunded".
func (Refunded) EventType() string { return "invoice.refunded" }

// EventType returns "invoice.voided".
func (Voided) EventType() string { return "invoice.voided" }

func (Created) isEvent()           {}
func (AttemptStarted) isEvent()    {}
func (AttemptProcessing) isEvent() {}
func (AttemptSucceeded) isEvent()  {}
func (Paid) isEvent()              {}
func (AttemptFailed) isEvent()     {}
func (RetryScheduled) isEvent()    {}
func (RetriesExhausted) isEvent()  {}
func (Refunded) isEvent()          {}
func (Voided) isEvent()            {}
