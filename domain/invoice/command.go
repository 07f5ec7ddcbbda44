// Package invoice is the invoice aggregate: one charge (a subscription cycle
// or an order), numbered when it is created, with its VAT lines, its payment
// attempts through Stripe, the retry schedule after a failure, refunds and
// voiding.
//
// Seed and API.md sections → this package:
//
//	Invoices table (number, customer name,     State: Number, CustomerName, CreatedAt,
//	  created, amount, status, retries,          Amount, Status, Retries, RetryPending,
//	  retry pending)                             NextRetryAt
//	Payment history (date, amount, status,     State.Attempts, StripePaymentIntentID
//	  invoice, payment intent)
//	Customer Invoice (PDF) / invoice lines     Created (Lines, Subtotal, Discount, VAT)
//	Refund via Stripe                          Refund → Refunded
//	Charge paid (sync or webhook)              StartAttempt → AttemptStarted,
//	                                             RecordAttemptSucceeded → AttemptSucceeded, Paid
//	payment_failed, retry schedule,            RecordAttemptFailed → AttemptFailed,
//	  past_due after the last retry              RetryScheduled | RetriesExhausted
//	POST /v1/invoices/{id}/retry               StartAttempt (the next attempt number)
//	Void                                       Void → Voided
//
// Payment attempts are numbered from 1 (the first charge); attempt n+1 is
// retry n. Each attempt has a payment id ("pay_") made outside the domain;
// deriving it from (invoice id, attempt number) is what makes a retried job,
// a scheduled retry racing a manual one, and the Stripe idempotency key all
// agree, because StartAttempt with an attempt number already taken by the
// same payment id is a no-op.
package invoice

import (
	"time"

	"github.com/subsd/subsd/domain"
)

// Command is the closed set of the invoice's commands.
type Command interface{ isCommand() }

// Create makes and numbers the invoice for one charge: either a subscription
// cycle (SubscriptionID and Cycle ≥ 1, no OrderID) or an order (OrderID, and
// SubscriptionID too when the order is a priced shipment of a subscription;
// Cycle 0). Number is allocated outside the domain. Lines are priced with
// domain.PriceLines at the rate of the shipping country (the billing
// country's without a shipping address), exactly like an order, so an
// order's invoice shows the order's VAT; the amount to charge is their total
// and must be above zero. CustomerName is printed on the invoice document.
// DueOn is the day the charge is due.
//
// Creating an invoice that exists is a no-op when the id and number are the
// ones it was created with, and ErrInvoiceExists otherwise.
type Create struct {
	InvoiceID       domain.InvoiceID
	Number          domain.InvoiceNumber
	CustomerID      domain.CustomerID
	CustomerName    string
	SubscriptionID  domain.SubscriptionID
	Cycle           int
	OrderID         domain.OrderID
	Lines           []domain.Line
	Discount        domain.Money
	BillingAddress  domain.Address
	ShippingAddress *domain.Address
	VATRates        domain.VATRates
	DueOn           domain.Date
	At              time.Time
}

// StartAttempt records a charge attempt before Stripe is called, so that
// the call's idempotency key (PaymentID) is stored first. Attempt is the
// 1-based attempt number and must be the next one. It is refused while the
// previous attempt has no outcome (ErrAttemptPending: a SEPA debit can take
// days, and charging again meanwhile could take the money twice), on a paid,
// refunded or void invoice, and after a hard decline only the automatic
// schedule stops: a manual retry (the customer fixed the card) is allowed.
// Starting an attempt cancels any pending scheduled retry.
type StartAttempt struct {
	PaymentID domain.PaymentID
	Attempt   int
	At        time.Time
}

// RecordAttemptProcessing records that Stripe accepted the attempt but has
// no outcome yet (a SEPA debit settles days later), with its payment intent.
// A repeat, or one after the outcome, is a no-op.
type RecordAttemptProcessing struct {
	PaymentID       domain.PaymentID
	PaymentIntentID string
	At              time.Time
}

// RecordAttemptSucceeded records a succeeded payment intent: a synchronous
// success or the payment_intent.succeeded webhook. The first success pays the
// invoice (Paid). One outcome per attempt: a repeat is a no-op (a duplicate
// webhook), but a success after a recorded failure of the same attempt wins
// (Stripe can report a SEPA debit failed and later succeeded): the money was
// collected, so it is recorded and, unless another attempt already paid the
// invoice, the invoice becomes paid and its pending retry is dropped. A
// success when another attempt already paid is recorded too, flagged
// Duplicate, so that the extra money can be refunded; it never goes missing
// from the books.
type RecordAttemptSucceeded struct {
	PaymentID       domain.PaymentID
	PaymentIntentID string
	At              time.Time
}

// RecordAttemptFailed records a failed attempt (payment_intent.payment_failed
// or a synchronous decline). DeclineCode is Stripe's decline_code (or the
// failure_code of a bank debit); the domain classifies it with IsHardDecline.
// PaymentIntentID may be empty when no intent was created. A repeat, or a
// failure after a recorded success of the same attempt, is a no-op: Stripe
// never fails a succeeded intent; money taken back arrives as a refund or
// dispute instead.
//
// While the invoice is unpaid, the failure also decides the dunning:
// RetrySchedule (days after the invoice's first failure; nil means
// DefaultRetrySchedule) and Location (the business time zone the days are
// counted in; nil means UTC) give the time of the next retry, or the retries
// are exhausted. See RetrySchedule for the rule.
type RecordAttemptFailed struct {
	PaymentID       domain.PaymentID
	PaymentIntentID string
	DeclineCode     string
	Message         string
	RetrySchedule   RetrySchedule
	Location        *time.Location
	At              time.Time
}

// Refund records a refund made through Stripe (POST /v1/invoices/{id}/refund,
// or one made in the Stripe dashboard and reported by charge.refunded).
// RefundID is Stripe's refund id and makes the command idempotent. Amount nil
// refunds all that is left; partial refunds are allowed; the total refunded
// never exceeds what was paid (ErrRefundExceedsPaid). Only a paid invoice can
// be refunded (ErrInvoiceNotPaid).
type Refund struct {
	RefundID string
	Amount   *domain.Money
	At       time.Time
}

// Void cancels an invoice that has not been paid and has no attempt in
// flight. Voiding a void invoice is a no-op.
type Void struct {
	Reason string
	At     time.Time
}

func (Create) isCommand()                  {}
func (StartAttempt) isCommand()            {}
func (RecordAttemptProcessing) isCommand() {}
func (RecordAttemptSucceeded) isCommand()  {}
func (RecordAttemptFailed) isCommand()     {}
func (Refund) isCommand()                  {}
func (Void) isCommand()                    {}
