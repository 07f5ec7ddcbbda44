// Package workers holds the River side of subsd: the job arguments, the
// reactors that turn events into jobs (in the same transaction as their
// checkpoint), the due-work table and its runner, the test clock and the
// workers that talk to the outside world (Stripe in workers/stripe, SMTP in
// workers/mail, PDFs in workers/pdf).
//
// Job arguments carry ids only, never personal data: River keeps finished
// jobs (and their args) around for days, and personal data must be erasable
// (DESIGN.md point 8). A worker loads what it needs from the event store.
package workers

import (
	"time"

	"github.com/subsd/subsd/domain"
)

// The job kinds. They are stored in river_job.kind; renaming one strands
// the jobs already queued under the old name, so they are constants.
const (
	KindChargeInvoice        = "charge_invoice"
	KindSendEmail            = "send_email"
	KindApplyStripeEvent     = "apply_stripe_event"
	KindRefund               = "refund_invoice"
	KindDueWork              = "due_work"
	KindChargeDue            = "charge_due"
	KindShipmentDue          = "shipment_due"
	KindCompleteCancellation = "complete_cancellation"
	KindEnsureInvoice        = "ensure_invoice"
)

// ChargeInvoiceArgs charges one attempt of an invoice through Stripe
// (ChargeInvoiceWorker, 5B). Attempt is 1-based: 1 is the first charge,
// n+1 is retry n. The payment id, and with it the Stripe idempotency key, is
// derived from (InvoiceID, Attempt), so the job is idempotent. A row in
// charge_attempts (primary key invoice_id, attempt) is inserted in the same
// transaction as the job, so an attempt is enqueued at most once whoever
// enqueues it (reactor, due work, manual retry).
type ChargeInvoiceArgs struct {
	InvoiceID domain.InvoiceID `json:"invoice_id"`
	Attempt   int              `json:"attempt"`
}

// Kind implements river.JobArgs.
func (ChargeInvoiceArgs) Kind() string { return KindChargeInvoice }

// SendEmailArgs sends one planned email (SendEmailWorker, 5C). The email
// aggregate says what and to whom; a sent email is done.
type SendEmailArgs struct {
	EmailID domain.EmailID `json:"email_id"`
}

// Kind implements river.JobArgs.
func (SendEmailArgs) Kind() string { return KindSendEmail }

// ApplyStripeEventArgs applies one verified Stripe webhook event, stored by
// the webhook handler (5B) under Stripe's event id, asynchronously.
type ApplyStripeEventArgs struct {
	EventID string `json:"event_id"`
}

// Kind implements river.JobArgs.
func (ApplyStripeEventArgs) Kind() string { return KindApplyStripeEvent }

// RefundArgs refunds (part of) a paid invoice through Stripe (5B).
// RefundID is ours, made once per refund command, and is the Stripe
// idempotency key; Amount nil refunds all that is left.
type RefundArgs struct {
	InvoiceID domain.InvoiceID `json:"invoice_id"`
	RefundID  string           `json:"refund_id"`
	Amount    *domain.Money    `json:"amount,omitempty"`
}

// Kind implements river.JobArgs.
func (RefundArgs) Kind() string { return KindRefund }

// DueWorkArgs is the periodic tick (every minute) that runs the due work
// falling due by the clock's now (DueWorker).
type DueWorkArgs struct{}

// Kind implements river.JobArgs.
func (DueWorkArgs) Kind() string { return KindDueWork }

// ChargeDueArgs makes a subscription's next charge due (command.ChargeDue:
// subscription.charge_due + invoice.created; the payment reactor then
// charges the invoice). DueAt is the next_charge_at the due work saw: a job
// whose subscription's next charge is no longer DueAt (already charged,
// moved by a pause, not active any more) does nothing.
type ChargeDueArgs struct {
	SubscriptionID domain.SubscriptionID `json:"subscription_id"`
	DueAt          time.Time             `json:"due_at"`
}

// Kind implements river.JobArgs.
func (ChargeDueArgs) Kind() string { return KindChargeDue }

// ShipmentDueArgs records one scheduled shipment of an active product
// (subscription.RecordShipmentDue with the order id
// command.ShipmentOrderID(SubscriptionID, ProductID, DueOn)); the shipment
// reactor then creates the order. Enqueued once per (subscription,
// product, due date), guarded by the shipments table's primary key.
type ShipmentDueArgs struct {
	SubscriptionID domain.SubscriptionID `json:"subscription_id"`
	ProductID      domain.ProductID      `json:"product_id"`
	DueOn          domain.Date           `json:"due_on"`
}

// Kind implements river.JobArgs.
func (ShipmentDueArgs) Kind() string { return KindShipmentDue }

// CompleteCancellationArgs ends a subscription canceled at period end once
// its period is over (subscription.CompleteCancellation).
type CompleteCancellationArgs struct {
	SubscriptionID domain.SubscriptionID `json:"subscription_id"`
}

// Kind implements river.JobArgs.
func (CompleteCancellationArgs) Kind() string { return KindCompleteCancellation }

// EnsureInvoiceArgs repairs a crash between the two appends of a use case
// that makes a charge due: an order that costs something without its
// invoice (OrderID: command.EnsureOrderInvoice), or a subscription charge
// without its invoice (SubscriptionID and Cycle:
// command.EnsureChargeInvoice). The payment reactor enqueues it, a minute
// later, for every such order and charge; when the use case went through,
// as it nearly always does, the job finds the invoice and does nothing.
type EnsureInvoiceArgs struct {
	OrderID        domain.OrderID        `json:"order_id,omitempty"`
	SubscriptionID domain.SubscriptionID `json:"subscription_id,omitempty"`
	Cycle          int                   `json:"cycle,omitempty"`
}

// Kind implements river.JobArgs.
func (EnsureInvoiceArgs) Kind() string { return KindEnsureInvoice }
