package workers

import (
	"context"
	"errors"
	"fmt"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/workers/stripe"
)

// ErrInvalidSignature is the answer to a webhook delivery whose
// Stripe-Signature does not verify (HTTP 400, so Stripe shows the failure).
var ErrInvalidSignature = &domain.Error{Kind: domain.KindInvalid, Code: "invalid_signature",
	Message: "the Stripe-Signature header does not verify with the webhook secret, or is older than 300 seconds", Field: "Stripe-Signature"}

// ErrInvalidEvent is the answer to a signed payload that is not a Stripe
// event.
var ErrInvalidEvent = &domain.Error{Kind: domain.KindInvalid, Code: "invalid_event", Message: "the payload is not a Stripe event"}

// ApplyStripeWebhook is POST /v1/webhooks/stripe. It verifies the
// delivery's signature (stripe-go's ConstructEventWithOptions, 300 s
// tolerance: ErrInvalidSignature), records the event in the inbox by
// Stripe's event id, applies it unless an earlier delivery did, and returns
// the position of what it appended (the zero Position when nothing).
//
// The event is applied in the request rather than through a job: it is a
// few appends, and the answer then tells the caller (and the end-to-end
// tests, through X-Event-Position) that the outcome is recorded. When
// applying fails (the event store is down) the error goes back as a 500
// and Stripe redelivers, for up to three days: Stripe is the queue.
//
// What is applied, matched by metadata.invoice_id and metadata.payment_id
// (every PaymentIntent the service creates carries both):
//
//	payment_intent.succeeded       invoice.RecordAttemptSucceeded (pays the invoice)
//	payment_intent.payment_failed  invoice.RecordAttemptFailed with last_payment_error's code
//	payment_intent.processing      invoice.RecordAttemptProcessing
//	payment_intent.canceled        invoice.RecordAttemptFailed (payment_intent_canceled)
//	charge.refunded                invoice.Refund for each refund of the charge not yet known
//	charge.dispute.created         logged and kept in the inbox; the domain has no disputes yet
//
// Order does not matter: the invoice aggregate decides a late success after
// a failure of the same attempt (the success wins), a failure or
// processing after a success (ignored), a repeated outcome or a known
// refund (ignored). Events for objects the service did not make, or for
// invoices and attempts it does not know, are acknowledged and ignored, so
// Stripe does not retry them for days.
func (p *Payments) ApplyStripeWebhook(ctx context.Context, payload []byte, signature string) (eventstore.Position, error) {
	e, err := p.Stripe.VerifyWebhook(payload, signature)
	switch {
	case errors.Is(err, stripe.ErrBadSignature):
		return eventstore.Position{}, ErrInvalidSignature
	case errors.Is(err, stripe.ErrNoWebhookSecret):
		return eventstore.Position{}, err // a 500: Stripe retries until it is configured
	case err != nil:
		p.logger().WarnContext(ctx, "stripe webhook: unreadable event", "error", err)
		return eventstore.Position{}, ErrInvalidEvent
	}
	applied, err := p.Inbox.Receive(ctx, e)
	if err != nil {
		return eventstore.Position{}, err
	}
	if applied {
		return eventstore.Position{}, nil
	}
	result, pos, err := p.applyStripeEvent(ctx, e)
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("applying stripe event %s (%s): %w", e.ID, e.Type, err)
	}
	if err := p.Inbox.MarkApplied(ctx, e.ID, result); err != nil {
		return eventstore.Position{}, err
	}
	return pos, nil
}

// applyStripeEvent applies one event and says what it did.
func (p *Payments) applyStripeEvent(ctx context.Context, e stripe.Event) (string, eventstore.Position, error) {
	md := eventstore.Metadata{Actor: "stripe", CorrelationID: e.ID, OccurredAt: p.now()}
	key := "stripe-event/" + e.ID
	switch e.Type {
	case stripe.EventPaymentIntentSucceeded, stripe.EventPaymentIntentFailed,
		stripe.EventPaymentIntentProcessing, stripe.EventPaymentIntentCanceled:
		return p.applyPaymentIntent(ctx, e, md, key)
	case stripe.EventChargeRefunded:
		return p.applyChargeRefunded(ctx, e, md, key)
	case stripe.EventChargeDisputeCreated:
		d := e.Dispute
		p.logger().WarnContext(ctx, "stripe webhook: a charge is disputed; handle it in the Stripe dashboard",
			"event_id", e.ID, "dispute_id", d.ID, "charge_id", d.ChargeID, "payment_intent_id", d.PaymentIntentID,
			"invoice_id", d.Metadata.InvoiceID, "amount", d.Amount, "currency", d.Currency, "reason", d.Reason)
		return fmt.Sprintf("recorded: dispute %s of %s (%s)", d.ID, d.ChargeID, d.Reason), eventstore.Position{}, nil
	}
	return "ignored: type not handled", eventstore.Position{}, nil
}

func (p *Payments) applyPaymentIntent(ctx context.Context, e stripe.Event, md eventstore.Metadata, key string) (string, eventstore.Position, error) {
	pi := e.PaymentIntent
	inv, err := domain.ParseInvoiceID(pi.Metadata.InvoiceID)
	if err != nil {
		return p.ignored(ctx, e, "not a payment intent of this service (no invoice_id metadata)")
	}
	pay, err := domain.ParsePaymentID(pi.Metadata.PaymentID)
	if err != nil {
		// API.md names invoice_id, customer_id and subscription_id as how
		// webhooks are matched; payment_id is ours, added to every intent
		// we create. An event without it is matched to its attempt by the
		// intent's id, or else to the invoice's attempt still waiting for
		// Stripe's answer.
		var ok bool
		if pay, ok, err = p.attemptForIntent(ctx, inv, pi.ID); err != nil {
			return "", eventstore.Position{}, err
		} else if !ok {
			return p.ignored(ctx, e, "no attempt of invoice "+string(inv)+" matches payment intent "+pi.ID)
		}
	}
	o := outcome{intent: pi.ID}
	switch e.Type {
	case stripe.EventPaymentIntentSucceeded:
		o.status = invoice.AttemptStatusSucceeded
	case stripe.EventPaymentIntentProcessing:
		o.status = invoice.AttemptStatusProcessing
	case stripe.EventPaymentIntentFailed:
		o.status = invoice.AttemptStatusFailed
		o.code, o.message = pi.LastError.FailureCode(), "the payment failed"
		if pi.LastError != nil && pi.LastError.Message != "" {
			o.message = pi.LastError.Message
		}
	case stripe.EventPaymentIntentCanceled:
		o = outcome{status: invoice.AttemptStatusFailed, intent: pi.ID, code: "payment_intent_canceled", message: "the payment intent was canceled"}
	}
	res, err := p.recordOutcome(ctx, inv, pay, o, md, key)
	if isRefusal(err) {
		return p.ignored(ctx, e, err.Error())
	}
	if err != nil {
		return "", eventstore.Position{}, err
	}
	if len(res.Events) == 0 {
		return "applied: nothing new", eventstore.Position{}, nil
	}
	return "applied", res.Position, nil
}

// attemptForIntent finds the attempt of invoice id that a PaymentIntent
// without payment_id metadata settles: the attempt that recorded that
// intent, else the latest attempt while it is pending with no intent
// recorded yet (the webhook outran the worker recording Stripe's answer).
// An intent the invoice does not know is never taken for another's.
func (p *Payments) attemptForIntent(ctx context.Context, id domain.InvoiceID, intent string) (domain.PaymentID, bool, error) {
	st, _, err := eventstore.Load(ctx, p.Store, invoice.Aggregate, invoice.Stream(id))
	if err != nil {
		return "", false, fmt.Errorf("loading invoice %s: %w", id, err)
	}
	for _, a := range st.Attempts {
		if intent != "" && a.PaymentIntentID == intent {
			return a.PaymentID, true, nil
		}
	}
	if n := len(st.Attempts); n > 0 {
		if last := st.Attempts[n-1]; last.Status == invoice.AttemptStatusPending && last.PaymentIntentID == "" {
			return last.PaymentID, true, nil
		}
	}
	return "", false, nil
}

// applyChargeRefunded records the charge's refunds on its invoice. The
// invoice is the charge's metadata.invoice_id, else its PaymentIntent's
// (retrieved from Stripe); the refunds are the payload's when it carries
// them, else listed through the API (since API version 2022-11-15 a charge
// no longer embeds them). A refund made through the service is known
// already and changes nothing; one made in the Stripe dashboard is
// recorded here. Refunds that failed or were canceled are not money given
// back and are skipped.
func (p *Payments) applyChargeRefunded(ctx context.Context, e stripe.Event, md eventstore.Metadata, key string) (string, eventstore.Position, error) {
	ch := e.Charge
	meta := ch.Metadata
	if meta.InvoiceID == "" && ch.PaymentIntentID != "" {
		pi, err := p.Stripe.PaymentIntent(ctx, ch.PaymentIntentID)
		if err != nil && !stripe.IsKind(err, stripe.KindInvalid) {
			return "", eventstore.Position{}, err
		}
		meta = pi.Metadata
	}
	id, err := domain.ParseInvoiceID(meta.InvoiceID)
	if err != nil || ch.PaymentIntentID == "" {
		return p.ignored(ctx, e, "not a charge of this service (no invoice_id metadata)")
	}
	st, _, err := eventstore.Load(ctx, p.Store, invoice.Aggregate, invoice.Stream(id))
	if err != nil {
		return "", eventstore.Position{}, err
	}
	if !st.Exists() {
		return p.ignored(ctx, e, "invoice "+string(id)+" does not exist")
	}
	ours := false
	for _, a := range st.Attempts {
		if a.PaymentIntentID == ch.PaymentIntentID && a.Status == invoice.AttemptStatusSucceeded {
			ours = true
		}
	}
	if !ours {
		return p.ignored(ctx, e, "payment intent "+ch.PaymentIntentID+" paid no attempt of "+string(id))
	}
	refunds := ch.Refunds
	if !ch.RefundsIncluded {
		if refunds, err = p.Stripe.Refunds(ctx, ch.PaymentIntentID); err != nil {
			return "", eventstore.Position{}, err
		}
	}
	var pos eventstore.Position
	recorded := 0
	for _, r := range refunds {
		// An embedded refund is the charge's; a listed one must say so.
		if (r.PaymentIntentID != "" || !ch.RefundsIncluded) && r.PaymentIntentID != ch.PaymentIntentID {
			continue
		}
		if r.Status != "succeeded" && r.Status != "pending" {
			continue
		}
		amount, err := domain.NewMoney(r.Amount, domain.Currency(r.Currency))
		if err != nil || amount.Currency() != st.Amount.Currency() {
			p.logger().WarnContext(ctx, "stripe webhook: refund in another currency skipped", "event_id", e.ID, "refund_id", r.ID, "currency", r.Currency)
			continue
		}
		res, err := p.invoiceCommand(ctx, id, md, key+"/"+r.ID, invoice.Refund{RefundID: r.ID, Amount: &amount, At: md.OccurredAt})
		if isRefusal(err) {
			p.logger().WarnContext(ctx, "stripe webhook: refund not recorded", "event_id", e.ID, "invoice_id", id, "refund_id", r.ID, "error", err)
			continue
		}
		if err != nil {
			return "", eventstore.Position{}, err
		}
		if len(res.Events) > 0 {
			recorded++
			pos = res.Position
		}
	}
	return fmt.Sprintf("applied: %d refund(s) recorded", recorded), pos, nil
}

func (p *Payments) ignored(ctx context.Context, e stripe.Event, why string) (string, eventstore.Position, error) {
	p.logger().WarnContext(ctx, "stripe webhook: event ignored", "event_id", e.ID, "type", e.Type, "object_id", e.ObjectID(), "reason", why)
	return "ignored: " + why, eventstore.Position{}, nil
}
