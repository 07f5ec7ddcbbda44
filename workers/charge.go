package workers

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/settings"
	"github.com/subsd/subsd/domain/subscription"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/workers/stripe"
)

// PaymentID is the payment id of attempt number attempt of an invoice
// ("pay_" and 20 base62 characters derived from both). Deriving it is what
// makes every party agree without coordination: a retried charge job, a
// scheduled retry racing a manual one (invoice.StartAttempt with the same
// number and payment id is a no-op), and Stripe, which gets the payment id
// as the PaymentIntent's idempotency key.
func PaymentID(id domain.InvoiceID, attempt int) domain.PaymentID {
	sum := sha256.Sum256([]byte("payment\x00" + string(id) + "\x00" + strconv.Itoa(attempt)))
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := []byte(domain.PaymentPrefix)
	// 20 characters, 6 bits each from the digest (64 values folded onto 62:
	// a negligible bias for an id that only has to be unique).
	var acc uint64
	bits, i := 0, 0
	for n := 0; n < 20; n++ {
		if bits < 6 {
			acc = acc<<8 | uint64(sum[i])
			i++
			bits += 8
		}
		bits -= 6
		b = append(b, base62[((acc>>bits)&63)%62])
	}
	return domain.PaymentID(b)
}

// Payments takes money through Stripe and records what Stripe says on the
// invoices: the charge_invoice and refund_invoice workers, the Stripe
// webhook, and the manual retry and refund of POST /v1/invoices/{id}/retry
// and /refund all run through it. It is safe for concurrent use; its fields
// must not change once it is in use.
//
// Every outcome is appended with eventstore.Execute and an idempotency key
// derived from what caused it (the payment id and the outcome, a Stripe
// event id, a refund command id), so a retry at any point appends nothing
// twice; and the invoice aggregate itself ignores an outcome it knows.
type Payments struct {
	// Store is the event log.
	Store eventstore.Store
	// Pool is the PostgreSQL of the charge_attempts guard (and River).
	Pool *pgxpool.Pool
	// Jobs enqueues charge jobs (the manual retry).
	Jobs JobInserter
	// Stripe is the payment provider.
	Stripe *stripe.Client
	// Inbox remembers the webhook events received.
	Inbox *stripe.Inbox
	// Clock is the service's now (the test clock under TEST_CLOCK=1); nil
	// means time.Now.
	Clock func() time.Time
	// Location is the business time zone the retry schedule counts days
	// in; nil means UTC.
	Location *time.Location
	// Logger receives what is skipped or ignored; nil means slog.Default().
	Logger *slog.Logger

	// AfterChargeFunc, when set, runs after Stripe answered a charge and
	// before its outcome is recorded; an error it returns ends the job
	// there, as a crash of the worker at that line would (River retries
	// it). Tests use it to show that the retry records one outcome and
	// sends Stripe the same idempotency key.
	AfterChargeFunc func(ctx context.Context, id domain.InvoiceID, attempt int) error
}

func (p *Payments) now() time.Time {
	if p.Clock == nil {
		return time.Now().UTC()
	}
	return p.Clock().UTC()
}

func (p *Payments) location() *time.Location {
	if p.Location == nil {
		return time.UTC
	}
	return p.Location
}

func (p *Payments) logger() *slog.Logger {
	if p.Logger == nil {
		return slog.Default()
	}
	return p.Logger
}

// AddPaymentWorkers registers the workers of the payments through Stripe:
// charge_invoice and refund_invoice. p.Jobs may be set after this call
// (the River client is made from the workers).
func AddPaymentWorkers(ws *river.Workers, p *Payments) {
	river.AddWorker(ws, &ChargeInvoiceWorker{Payments: p})
	river.AddWorker(ws, &RefundWorker{Payments: p})
}

// ChargeInvoiceWorker works charge_invoice jobs: one payment attempt of an
// invoice through Stripe (Payments.Charge).
type ChargeInvoiceWorker struct {
	river.WorkerDefaults[ChargeInvoiceArgs]
	Payments *Payments
}

// Timeout bounds one run: Stripe answers in seconds, and stripe-go retries
// a failed request at most twice with its 30 s client timeout.
func (w *ChargeInvoiceWorker) Timeout(*river.Job[ChargeInvoiceArgs]) time.Duration {
	return 3 * time.Minute
}

// Work charges the job's attempt. An error is retried by River with the same
// payment id, so Stripe sees the same idempotency key; a permanent failure
// is river.JobCancel.
func (w *ChargeInvoiceWorker) Work(ctx context.Context, job *river.Job[ChargeInvoiceArgs]) error {
	// The job's creation stands in for its first run, which River does not
	// keep (only the latest attempt's start): it is never later.
	return w.Payments.Charge(ctx, job.Args.InvoiceID, job.Args.Attempt, ChargeRun{
		Retried: job.Attempt > 1, FirstRunAt: job.CreatedAt,
	})
}

// ChargeRun is what Charge knows of the job running it.
type ChargeRun struct {
	// Retried is set when an earlier run of the same job ended without
	// completing (an error, a crash).
	Retried bool
	// FirstRunAt is when the job was first worked, on the real clock.
	FirstRunAt time.Time
}

// idempotencyHorizon is how long after a first request Charge trusts
// Stripe's idempotency key alone. Stripe keeps keys for at least 24 hours;
// a retry later than this first searches for the PaymentIntent by its
// payment id, so that an expired key cannot make a second charge.
const idempotencyHorizon = 23 * time.Hour

// Charge makes payment attempt number attempt of invoice id:
//
//  1. It records the attempt (invoice.StartAttempt with PaymentID(id,
//     attempt)) before anything is sent, so the idempotency key is stored
//     first. A paid or void invoice, an attempt number another attempt took,
//     or an earlier attempt still waiting for its outcome ends the job with
//     nothing to do: a stale job (a manual retry or a payment got there
//     first). An attempt that already has an outcome, or is processing, is
//     done too (a job retried after it recorded).
//  2. It makes sure the customer has a Stripe customer holding the payment
//     method (created on the first charge, idempotency key from the
//     customer id, and linked: customer.LinkStripeCustomer), then creates an
//     off-session PaymentIntent confirmed at once, with the payment id as
//     the idempotency key and the invoice's ids in its metadata.
//  3. It records Stripe's answer: succeeded pays the invoice at once; a
//     decline (or a request Stripe refuses for good, such as a payment
//     method that does not exist) is a failed attempt, which schedules the
//     dunning retry from the settings; anything else (processing, or
//     stripe-mock's requires_payment_method) records the PaymentIntent as
//     processing and leaves the outcome to the webhook.
//
// A subscription without a payment method (and a one-off order of a
// customer without a default one) fails the attempt with code
// no_payment_method: visible on the invoice, and retried on schedule.
//
// Stripe being unreachable, rate limiting or failing is returned as an
// error for River to retry; a command the domain refuses for good is
// river.JobCancel.
func (p *Payments) Charge(ctx context.Context, id domain.InvoiceID, attempt int, run ChargeRun) error {
	log := p.logger().With("invoice_id", id, "attempt", attempt)
	payID := PaymentID(id, attempt)
	md := eventstore.Metadata{Actor: "worker:" + KindChargeInvoice, CorrelationID: string(payID), OccurredAt: p.now()}

	res, err := p.invoiceCommand(ctx, id, md, "charge/"+string(payID)+"/start",
		invoice.StartAttempt{PaymentID: payID, Attempt: attempt, At: md.OccurredAt})
	switch {
	case errors.Is(err, invoice.ErrInvoiceNotFound):
		return river.JobCancel(fmt.Errorf("charging %s: %w", id, err))
	case errors.Is(err, invoice.ErrInvoicePaid), errors.Is(err, invoice.ErrInvoiceVoid),
		errors.Is(err, invoice.ErrAttemptExists), errors.Is(err, invoice.ErrAttemptOutOfSequence),
		errors.Is(err, invoice.ErrAttemptPending):
		log.InfoContext(ctx, "charge: nothing to do", "reason", err.Error())
		return nil
	case isRefusal(err):
		return river.JobCancel(fmt.Errorf("charging attempt %d of %s: %w", attempt, id, err))
	case err != nil:
		return err
	}
	inv := res.State
	a, ok := attemptByNumber(inv, attempt)
	if !ok || a.PaymentID != payID {
		return river.JobCancel(fmt.Errorf("charging %s: attempt %d is not %s", id, attempt, payID))
	}
	if a.Status != invoice.AttemptStatusPending {
		log.InfoContext(ctx, "charge: the attempt has its answer already", "status", a.Status)
		return nil
	}

	out, err := p.requestPayment(ctx, inv, a, run)
	if err != nil {
		return err
	}
	if p.AfterChargeFunc != nil {
		if err := p.AfterChargeFunc(ctx, id, attempt); err != nil {
			return err
		}
	}
	md.OccurredAt = p.now()
	_, err = p.recordOutcome(ctx, inv.ID, payID, out, md, "charge/"+string(payID))
	if isRefusal(err) {
		return river.JobCancel(fmt.Errorf("recording the outcome of %s: %w", payID, err))
	}
	return err
}

// outcome is what Stripe said of one attempt.
type outcome struct {
	status  invoice.AttemptStatus
	intent  string
	code    string
	message string
}

// requestPayment asks Stripe for the money of attempt a and returns its
// answer; an error is one worth retrying.
func (p *Payments) requestPayment(ctx context.Context, inv invoice.State, a invoice.Attempt, run ChargeRun) (outcome, error) {
	failed := func(err error) (outcome, error) {
		var se *stripe.Error
		if errors.As(err, &se) && !se.Temporary() {
			return outcome{status: invoice.AttemptStatusFailed, intent: se.PaymentIntentID, code: se.FailureCode(), message: se.Message}, nil
		}
		return outcome{}, err
	}
	if run.Retried && !run.FirstRunAt.IsZero() && time.Since(run.FirstRunAt) > idempotencyHorizon {
		pi, found, err := p.Stripe.FindPaymentIntent(ctx, string(a.PaymentID))
		if err != nil {
			return outcome{}, err
		}
		if found {
			return intentOutcome(pi), nil
		}
	}
	cus, pm, err := p.paymentSource(ctx, inv)
	if err != nil {
		return failed(err)
	}
	if pm == "" {
		return outcome{status: invoice.AttemptStatusFailed, code: "no_payment_method",
			message: "no saved payment method to charge"}, nil
	}
	pi, err := p.Stripe.CreatePaymentIntent(ctx, stripe.PaymentRequest{
		Amount: inv.Amount.Amount(), Currency: string(inv.Amount.Currency()),
		Customer: cus, PaymentMethod: pm, Description: string(inv.Number),
		Metadata: stripe.Metadata{
			InvoiceID: string(inv.ID), CustomerID: string(inv.CustomerID),
			SubscriptionID: string(inv.SubscriptionID), PaymentID: string(a.PaymentID),
		},
		IdempotencyKey: string(a.PaymentID),
	})
	if err != nil {
		return failed(err)
	}
	return intentOutcome(pi), nil
}

func intentOutcome(pi stripe.PaymentIntent) outcome {
	switch pi.Status {
	case stripe.StatusSucceeded:
		return outcome{status: invoice.AttemptStatusSucceeded, intent: pi.ID}
	case stripe.StatusCanceled:
		return outcome{status: invoice.AttemptStatusFailed, intent: pi.ID, code: "payment_intent_canceled", message: "the payment intent was canceled"}
	default:
		// processing, or a status only the webhook can settle.
		return outcome{status: invoice.AttemptStatusProcessing, intent: pi.ID}
	}
}

// paymentSource returns the Stripe customer and payment method to charge for
// inv: the subscription's payment method, else (a one-off order) the Stripe
// customer's default one. It creates and links the Stripe customer on the
// first charge, and attaches the payment method to it when needed.
func (p *Payments) paymentSource(ctx context.Context, inv invoice.State) (cus, pm string, err error) {
	if inv.SubscriptionID != "" {
		sub, _, err := eventstore.Load(ctx, p.Store, subscription.Aggregate, subscription.Stream(inv.SubscriptionID))
		if err != nil {
			return "", "", err
		}
		pm = sub.PaymentMethodID
	}
	c, _, err := eventstore.Load(ctx, p.Store, customer.Aggregate, customer.Stream(inv.CustomerID))
	if err != nil {
		return "", "", err
	}
	if !c.Exists() {
		return "", "", fmt.Errorf("charging %s: customer %s does not exist", inv.ID, inv.CustomerID)
	}
	cus = c.StripeCustomerID
	switch {
	case cus == "" && pm == "":
		return "", "", nil // nothing to charge, and no reason to make a Stripe customer
	case cus == "":
		if cus, err = p.linkStripeCustomer(ctx, c, pm); err != nil {
			return "", "", err
		}
		return cus, pm, nil
	case pm == "":
		pm, err = p.Stripe.DefaultPaymentMethod(ctx, cus)
		return cus, pm, err
	}
	return cus, pm, p.Stripe.EnsureAttached(ctx, pm, cus)
}

// linkStripeCustomer creates the customer's Stripe customer with pm attached
// and records it on the customer. The idempotency key is the customer id, so
// concurrent first charges of one customer (two subscriptions) make one
// Stripe customer; should two ever be linked (a key expired in between),
// the first link stands and the payment method is attached to it.
func (p *Payments) linkStripeCustomer(ctx context.Context, c customer.State, pm string) (string, error) {
	id, err := p.Stripe.CreateCustomer(ctx, stripe.CustomerRequest{
		CustomerID: string(c.ID), Name: c.Name(), Email: string(c.Email), PaymentMethod: pm,
		IdempotencyKey: "customer-" + string(c.ID),
	})
	if err != nil {
		return "", err
	}
	res, err := eventstore.Execute(ctx, p.Store, customer.Aggregate, customer.Stream(c.ID),
		customer.Command(customer.LinkStripeCustomer{CustomerID: c.ID, StripeCustomerID: id, At: p.now()}),
		eventstore.ExecuteOptions{
			Metadata:       eventstore.Metadata{Actor: "worker:" + KindChargeInvoice, OccurredAt: p.now()},
			IdempotencyKey: "stripe-customer/" + string(c.ID) + "/" + id,
		})
	if errors.Is(err, customer.ErrStripeCustomerLinked) {
		linked, _, lerr := eventstore.Load(ctx, p.Store, customer.Aggregate, customer.Stream(c.ID))
		if lerr != nil {
			return "", lerr
		}
		return linked.StripeCustomerID, p.Stripe.EnsureAttached(ctx, pm, linked.StripeCustomerID)
	}
	if err != nil {
		return "", fmt.Errorf("linking Stripe customer %s to %s: %w", id, c.ID, err)
	}
	return res.State.StripeCustomerID, nil
}

// recordOutcome records Stripe's answer for payment id on invoice id. key
// prefixes the idempotency key, to which the outcome is added: two sources
// of the same outcome (the job and a webhook) decide the same events.
func (p *Payments) recordOutcome(ctx context.Context, id domain.InvoiceID, payID domain.PaymentID, o outcome, md eventstore.Metadata, key string) (eventstore.ExecuteResult[invoice.State, invoice.Event], error) {
	at := md.OccurredAt
	var c invoice.Command
	switch o.status {
	case invoice.AttemptStatusSucceeded:
		c = invoice.RecordAttemptSucceeded{PaymentID: payID, PaymentIntentID: o.intent, At: at}
	case invoice.AttemptStatusProcessing:
		c = invoice.RecordAttemptProcessing{PaymentID: payID, PaymentIntentID: o.intent, At: at}
	case invoice.AttemptStatusFailed:
		schedule, err := p.retrySchedule(ctx)
		if err != nil {
			return eventstore.ExecuteResult[invoice.State, invoice.Event]{}, err
		}
		c = invoice.RecordAttemptFailed{
			PaymentID: payID, PaymentIntentID: o.intent, DeclineCode: cleanCode(o.code), Message: cleanText(o.message, 500),
			RetrySchedule: schedule, Location: p.location(), At: at,
		}
	default:
		return eventstore.ExecuteResult[invoice.State, invoice.Event]{}, fmt.Errorf("recording %s: no outcome %q", payID, o.status)
	}
	return p.invoiceCommand(ctx, id, md, key+"/"+string(o.status), c)
}

// retrySchedule returns the dunning retry schedule of the settings.
func (p *Payments) retrySchedule(ctx context.Context) (invoice.RetrySchedule, error) {
	st, _, err := eventstore.Load(ctx, p.Store, settings.Aggregate, settings.Stream())
	if err != nil {
		return nil, err
	}
	// Never nil: invoice.RetrySchedule(nil) means the default, and an
	// empty schedule (no retries) must stay empty.
	return append(invoice.RetrySchedule{}, st.Dunning().RetryDays...), nil
}

// invoiceCommand runs c against invoice id with an idempotency key.
func (p *Payments) invoiceCommand(ctx context.Context, id domain.InvoiceID, md eventstore.Metadata, key string, c invoice.Command) (eventstore.ExecuteResult[invoice.State, invoice.Event], error) {
	if _, err := domain.ParseInvoiceID(string(id)); err != nil {
		return eventstore.ExecuteResult[invoice.State, invoice.Event]{}, invoice.ErrInvoiceNotFound
	}
	return eventstore.Execute(ctx, p.Store, invoice.Aggregate, invoice.Stream(id), c,
		eventstore.ExecuteOptions{Metadata: md, IdempotencyKey: key})
}

func attemptByNumber(inv invoice.State, n int) (invoice.Attempt, bool) {
	for _, a := range inv.Attempts {
		if a.Number == n {
			return a, true
		}
	}
	return invoice.Attempt{}, false
}

// RetryCharge is POST /v1/invoices/{id}/retry: charge now, as the next
// attempt. It records the attempt (invoice.StartAttempt, so the domain's
// refusals answer the caller at once: 409 invoice_already_paid,
// invoice_void, payment_attempt_pending) and enqueues its charge job,
// guarded by charge_attempts like every other. It returns the position of
// what it appended.
//
// Recording the attempt and enqueuing its job are two steps (the event
// store is not this transaction's). Should the process die between them,
// the invoice shows an attempt pending without a job; a second retry
// finds that attempt, enqueues its job, and answers as if it had started
// it. Only a pending attempt whose job exists is 409
// payment_attempt_pending.
func (p *Payments) RetryCharge(ctx context.Context, md eventstore.Metadata, id domain.InvoiceID, ifMatch *uint64) (eventstore.Position, error) {
	if md.OccurredAt.IsZero() {
		md.OccurredAt = p.now()
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
	if n := len(st.Attempts); n > 0 && st.Attempts[n-1].Status == invoice.AttemptStatusPending {
		enqueued, err := p.enqueueCharge(ctx, id, n)
		if err != nil {
			return eventstore.Position{}, err
		}
		if !enqueued {
			return eventstore.Position{}, invoice.ErrAttemptPending
		}
		return p.streamPosition(ctx, invoice.Stream(id), version)
	}
	attempt := len(st.Attempts) + 1
	payID := PaymentID(id, attempt)
	res, err := eventstore.Execute(ctx, p.Store, invoice.Aggregate, invoice.Stream(id),
		invoice.Command(invoice.StartAttempt{PaymentID: payID, Attempt: attempt, At: md.OccurredAt}),
		eventstore.ExecuteOptions{Metadata: md, IdempotencyKey: "retry/" + string(payID), IfMatch: ifMatch})
	if err != nil {
		return eventstore.Position{}, err
	}
	if _, err := p.enqueueCharge(ctx, id, attempt); err != nil {
		return eventstore.Position{}, err
	}
	if len(res.Events) == 0 {
		return p.streamPosition(ctx, invoice.Stream(id), res.Version)
	}
	return res.Position, nil
}

// enqueueCharge enqueues the charge job of one attempt in a transaction of
// its own (EnqueueChargeAttempt); false when it was enqueued before.
func (p *Payments) enqueueCharge(ctx context.Context, id domain.InvoiceID, attempt int) (bool, error) {
	var enqueued bool
	err := pgx.BeginFunc(ctx, p.Pool, func(tx pgx.Tx) error {
		var err error
		enqueued, err = EnqueueChargeAttempt(ctx, tx, p.Jobs, id, attempt)
		return err
	})
	return enqueued, err
}

// streamPosition returns the global position of stream's event at version.
func (p *Payments) streamPosition(ctx context.Context, stream string, version uint64) (eventstore.Position, error) {
	if version == 0 {
		return eventstore.Position{}, nil
	}
	events, err := p.Store.ReadStream(ctx, stream, version, 1)
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("reading the position of %s at version %d: %w", stream, version, err)
	}
	if len(events) == 0 {
		return eventstore.Position{}, fmt.Errorf("reading the position of %s: version %d is missing", stream, version)
	}
	return events[0].Position, nil
}

// cleanCode makes a Stripe code fit the invoice's decline_code: snake_case,
// at most 100 characters.
func cleanCode(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(s)) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() == 100 {
			break
		}
	}
	return b.String()
}

// cleanText makes Stripe's message fit a domain text field: valid UTF-8 on
// one line, at most max characters.
func cleanText(s string, max int) string {
	s = strings.ToValidUTF8(s, "?")
	var b strings.Builder
	n := 0
	for _, r := range strings.TrimSpace(s) {
		if r < 0x20 || r == 0x7f {
			r = ' '
		}
		if n == max {
			break
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimSpace(b.String())
}
