package workers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/workers/stripe"
)

// ErrRefundRejected is a refund Stripe refused (the charge is disputed or
// already refunded there, say): HTTP 409 with Stripe's reason appended.
var ErrRefundRejected = domain.Conflict("refund_rejected", "Stripe refused the refund")

// RefundCommandID returns the id of a refund command: derived from key
// (the caller's scoped Idempotency-Key) and the invoice when key is set, so
// a client's retry of the same request sends Stripe the same idempotency
// key; random otherwise (a request without a key is a new refund each
// time, as API.md's writes are).
func RefundCommandID(id domain.InvoiceID, key string) string {
	if key == "" {
		var b [12]byte
		_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
		return "rfc_" + hex.EncodeToString(b[:])
	}
	sum := sha256.Sum256([]byte("refund\x00" + string(id) + "\x00" + key))
	return "rfc_" + hex.EncodeToString(sum[:12])
}

// RefundWorker works refund_invoice jobs (Payments.Refund): a refund the
// service decides on its own rather than at a person's request.
type RefundWorker struct {
	river.WorkerDefaults[RefundArgs]
	Payments *Payments
}

// Timeout bounds one run (see ChargeInvoiceWorker.Timeout).
func (w *RefundWorker) Timeout(*river.Job[RefundArgs]) time.Duration { return 3 * time.Minute }

// Work makes the job's refund; a refusal (by the domain or by Stripe) is
// river.JobCancel, anything else is retried with the same refund id.
func (w *RefundWorker) Work(ctx context.Context, job *river.Job[RefundArgs]) error {
	md := eventstore.Metadata{Actor: "worker:" + KindRefund, CorrelationID: job.Args.RefundID}
	_, err := w.Payments.Refund(ctx, md, job.Args.InvoiceID, job.Args.Amount, job.Args.RefundID, nil)
	if isRefusal(err) {
		return river.JobCancel(err)
	}
	return err
}

// Refund refunds amount of a paid invoice through Stripe (nil: all that is
// left) as refund command refundID (RefundCommandID), and records it
// (invoice.Refund with Stripe's refund id). It returns the position of what
// it appended. ifMatch, when set, is the invoice version the caller saw:
// eventstore.ErrVersionMismatch, before Stripe is called, when the invoice
// has moved on.
//
// The domain is asked first, with the invoice as loaded: a refund above
// what is left is 409 refund_exceeds_paid, an unpaid invoice 409
// invoice_not_paid, both before Stripe is called. The Stripe refund's
// idempotency key is the command id, so the same command never refunds
// twice: a retry after a crash between Stripe's answer and the record gets
// the same Stripe refund and records it then (and the charge.refunded
// webhook records it too, whichever comes first). A retry after the record
// finds the domain saying there is nothing left; it then looks for its
// refund at Stripe (metadata.refund_id) and, finding it, answers as the
// first run did.
//
// The refund goes against the PaymentIntent of the attempt that paid the
// invoice. An invoice paid twice (a duplicate success, flagged by the
// domain) can therefore be refunded through the service only up to the
// paying attempt's amount; Stripe refuses more (ErrRefundRejected), and
// the duplicate is refunded in the Stripe dashboard, which the webhook
// then records.
func (p *Payments) Refund(ctx context.Context, md eventstore.Metadata, id domain.InvoiceID, amount *domain.Money, refundID string, ifMatch *uint64) (eventstore.Position, error) {
	if md.OccurredAt.IsZero() {
		md.OccurredAt = p.now()
	}
	if refundID == "" {
		return eventstore.Position{}, errors.New("refunding: a refund command id is required")
	}
	if _, err := domain.ParseInvoiceID(string(id)); err != nil {
		return eventstore.Position{}, invoice.ErrInvoiceNotFound
	}
	st, version, err := eventstore.Load(ctx, p.Store, invoice.Aggregate, invoice.Stream(id))
	if err != nil {
		return eventstore.Position{}, err
	}
	if !st.Exists() {
		return eventstore.Position{}, invoice.ErrInvoiceNotFound
	}
	if ifMatch != nil && *ifMatch != version {
		return eventstore.Position{}, eventstore.ErrVersionMismatch
	}
	intent := payingIntent(st)
	// A probe decision with a refund id no refund has: the checks of the
	// real one, before Stripe moves any money.
	if _, err := invoice.Decide(st, invoice.Refund{RefundID: "probe_" + refundID, Amount: amount, At: md.OccurredAt}); err != nil {
		if r, found, ferr := p.findRefund(ctx, intent, refundID); ferr == nil && found {
			return p.recordRefund(ctx, md, st, r, refundID)
		}
		return eventstore.Position{}, err
	}
	if intent == "" {
		return eventstore.Position{}, invoice.ErrInvoiceNotPaid
	}
	want := st.Refundable()
	if amount != nil {
		want = *amount
	}
	r, err := p.Stripe.Refund(ctx, stripe.RefundRequest{
		PaymentIntentID: intent, Amount: want.Amount(),
		Metadata: stripe.Metadata{
			InvoiceID: string(st.ID), CustomerID: string(st.CustomerID), SubscriptionID: string(st.SubscriptionID),
			RefundID: refundID,
		},
		IdempotencyKey: "refund-" + refundID,
	})
	var se *stripe.Error
	if errors.As(err, &se) && !se.Temporary() {
		return eventstore.Position{}, &domain.Error{Kind: domain.KindConflict, Code: ErrRefundRejected.Code,
			Message: ErrRefundRejected.Message + ": " + cleanText(se.Message, 300)}
	}
	if err != nil {
		return eventstore.Position{}, err
	}
	return p.recordRefund(ctx, md, st, r, refundID)
}

// recordRefund records Stripe refund r of command refundID on invoice st.
func (p *Payments) recordRefund(ctx context.Context, md eventstore.Metadata, st invoice.State, r stripe.Refund, refundID string) (eventstore.Position, error) {
	if r.Status == "failed" || r.Status == "canceled" {
		return eventstore.Position{}, &domain.Error{Kind: domain.KindConflict, Code: ErrRefundRejected.Code,
			Message: fmt.Sprintf("%s: refund %s is %s", ErrRefundRejected.Message, r.ID, r.Status)}
	}
	// The amount recorded is Stripe's: it is what left the account.
	amount, err := domain.NewMoney(r.Amount, st.Amount.Currency())
	if err != nil {
		return eventstore.Position{}, err
	}
	res, err := p.invoiceCommand(ctx, st.ID, md, "refund/"+refundID,
		invoice.Refund{RefundID: r.ID, Amount: &amount, At: md.OccurredAt})
	if err != nil {
		if isRefusal(err) {
			// Stripe refunded, the books refuse: a person must look. It
			// can only happen when two refunds of one invoice race.
			p.logger().ErrorContext(ctx, "refund made at Stripe but not recorded", "invoice_id", st.ID, "refund_id", r.ID, "error", err)
		}
		return eventstore.Position{}, err
	}
	if len(res.Events) == 0 {
		return p.streamPosition(ctx, invoice.Stream(st.ID), res.Version)
	}
	return res.Position, nil
}

// findRefund looks for the Stripe refund of command refundID among the
// refunds of intent.
func (p *Payments) findRefund(ctx context.Context, intent, refundID string) (stripe.Refund, bool, error) {
	if intent == "" {
		return stripe.Refund{}, false, nil
	}
	refunds, err := p.Stripe.Refunds(ctx, intent)
	if err != nil {
		return stripe.Refund{}, false, err
	}
	for _, r := range refunds {
		if r.Metadata.RefundID == refundID {
			return r, true, nil
		}
	}
	return stripe.Refund{}, false, nil
}

// payingIntent returns the PaymentIntent of the attempt that paid st: the
// first success that was not a duplicate.
func payingIntent(st invoice.State) string {
	for _, a := range st.Attempts {
		if a.Status == invoice.AttemptStatusSucceeded && !a.Duplicate && a.PaymentIntentID != "" {
			return a.PaymentIntentID
		}
	}
	return ""
}
