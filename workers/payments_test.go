package workers_test

// Tests of the payments through Stripe (charge.go, webhook.go, refund.go)
// against the real stripe-mock (stripetest) and PostgreSQL. stripe-mock
// answers every confirmed PaymentIntent with requires_payment_method and
// keeps no state, so outcomes come from signed webhook payloads built here,
// and "Stripe sees one PaymentIntent" is shown by the requests it got: the
// same idempotency key is what makes real Stripe return the first answer.

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/command"
	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/subscription"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/eventrouter"
	"github.com/subsd/subsd/eventstore/postgres"
	"github.com/subsd/subsd/eventstore/postgres/pgtest"
	subsdhttp "github.com/subsd/subsd/http"
	"github.com/subsd/subsd/workers"
	"github.com/subsd/subsd/workers/stripe"
	"github.com/subsd/subsd/workers/stripe/stripetest"
)

// workers.Payments is what the HTTP server's Stripe routes need.
var _ subsdhttp.Payments = (*workers.Payments)(nil)

// payZone is the business time zone of these tests.
var payZone = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		panic(err)
	}
	return loc
}()

// payBundle is one payments test's service: its own database, the
// PostgreSQL store, the command service, stripe-mock behind its recorder,
// and a River client (insert-only, or working the payment jobs).
type payBundle struct {
	pool     *pgxpool.Pool
	store    eventstore.Store
	commands *command.Service
	mock     *stripetest.Mock
	jobs     *workers.Client
	payments *workers.Payments
	md       eventstore.Metadata

	mu  sync.Mutex
	now time.Time
}

func (b *payBundle) clock() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.now
}

func (b *payBundle) advance(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.now = b.now.Add(d)
}

func payLogger() *slog.Logger {
	if os.Getenv("WORKERS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// paySetup makes a payBundle. With work, River runs the charge and refund
// workers (fast polling), stopped at cleanup.
func paySetup(t *testing.T, work bool) *payBundle {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	require.NoError(t, postgres.Migrate(ctx, pool))
	require.NoError(t, eventrouter.Migrate(ctx, pool))
	require.NoError(t, command.Migrate(ctx, pool))
	require.NoError(t, workers.Migrate(ctx, pool))
	require.NoError(t, stripe.Migrate(ctx, pool))
	store := postgres.New(pool)
	b := &payBundle{pool: pool, store: store, now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC),
		md: eventstore.Metadata{Actor: "admin:test", CorrelationID: "test"}}
	b.commands = command.New(command.Deps{Store: store, Pool: pool, Clock: b.clock, Location: payZone})
	b.mock = stripetest.Start(t)
	sc, err := stripe.New(stripe.Config{SecretKey: stripetest.SecretKey, APIBase: b.mock.URL, WebhookSecret: stripetest.WebhookSecret, Logger: payLogger()})
	require.NoError(t, err)
	b.payments = &workers.Payments{
		Store: store, Pool: pool, Stripe: sc, Inbox: stripe.NewInbox(pool),
		Clock: b.clock, Location: payZone, Logger: payLogger(),
	}
	cfg := workers.ClientConfig{Logger: payLogger(), DueWorkInterval: -1,
		FetchCooldown: 5 * time.Millisecond, FetchPollInterval: 20 * time.Millisecond}
	if work {
		ws := river.NewWorkers()
		workers.AddPaymentWorkers(ws, b.payments)
		cfg.Workers = ws
	}
	b.jobs, err = workers.NewClient(pool, cfg)
	require.NoError(t, err)
	b.payments.Jobs = b.jobs
	if work {
		require.NoError(t, b.jobs.Start(context.Background()))
		t.Cleanup(func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = b.jobs.Stop(stopCtx)
		})
	}
	return b
}

// subscribe registers a customer and subscribes them with payment method
// pm ("" for none); it returns the first charge's invoice.
func (b *payBundle) subscribe(t *testing.T, pm string) invoice.State {
	t.Helper()
	ctx := context.Background()
	cus, err := b.commands.CreateCustomer(ctx, b.md, customer.Register{
		FirstName: "Ann", LastName: "de Vries", Email: "ann@example.nl",
		Address: domain.Address{Street: "Keizersgracht 1", Zipcode: "1015 CJ", City: "Amsterdam", Country: "NL"},
	})
	require.NoError(t, err)
	return b.subscribeCustomer(t, cus.Customer.ID, pm)
}

func (b *payBundle) subscribeCustomer(t *testing.T, cus domain.CustomerID, pm string) invoice.State {
	t.Helper()
	res, err := b.commands.CreateSubscription(context.Background(), b.md, subscription.Create{
		CustomerID: cus, PaymentMethodID: pm, DeliveryMethod: subscription.Delivery,
		Plan: subscription.Plan{Name: "Coffee", Price: domain.Cents(2500), Interval: domain.Interval{Unit: domain.Month, Count: 1}},
	})
	require.NoError(t, err)
	require.NotNil(t, res.Invoice)
	return res.Invoice.Invoice
}

func (b *payBundle) invoice(t *testing.T, id domain.InvoiceID) (invoice.State, uint64) {
	t.Helper()
	st, v, err := eventstore.Load(context.Background(), b.store, invoice.Aggregate, invoice.Stream(id))
	require.NoError(t, err)
	return st, v
}

// types lists the event types of a stream.
func (b *payBundle) types(t *testing.T, stream string) []string {
	t.Helper()
	evs, err := b.store.ReadStream(context.Background(), stream, 1, 1000)
	require.NoError(t, err)
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func countType(xs []string, x string) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

// deliver POSTs a signed webhook event to the payments, as Stripe would.
func (b *payBundle) deliver(t *testing.T, event map[string]any) (eventstore.Position, error) {
	t.Helper()
	body, header := stripetest.SignedPayload(t, event, stripetest.WebhookSecret, time.Time{})
	return b.payments.ApplyStripeWebhook(context.Background(), body, header)
}

// intentEvent is a payment_intent.* event for attempt a of inv.
func intentEvent(eventID, typ string, inv invoice.State, a invoice.Attempt, status string) map[string]any {
	return stripetest.Event(eventID, typ, stripetest.PaymentIntent(a.PaymentIntentID, status, inv.Amount.Amount(), string(inv.Amount.Currency()),
		map[string]string{"invoice_id": string(inv.ID), "customer_id": string(inv.CustomerID),
			"subscription_id": string(inv.SubscriptionID), "payment_id": string(a.PaymentID)}))
}

// TestChargeThroughStripe: the first charge creates and links the Stripe
// customer with the payment method, sends an off-session PaymentIntent with
// the payment id as idempotency key and the invoice's ids as metadata, and,
// stripe-mock answering requires_payment_method, records the attempt as
// processing; the signed payment_intent.succeeded webhook then pays it, once
// however often it is delivered. A job retried after the outcome calls
// Stripe no more, and the customer's next charge reuses the Stripe customer.
func TestChargeThroughStripe(t *testing.T) {
	t.Parallel()
	b := paySetup(t, false)
	ctx := context.Background()
	inv := b.subscribe(t, "pm_card_visa")

	require.NoError(t, b.payments.Charge(ctx, inv.ID, 1, workers.ChargeRun{}))
	st, _ := b.invoice(t, inv.ID)
	require.Len(t, st.Attempts, 1)
	a := st.Attempts[0]
	require.Equal(t, workers.PaymentID(inv.ID, 1), a.PaymentID)
	require.Equal(t, invoice.AttemptStatusProcessing, a.Status)
	require.Regexp(t, `^pi_`, a.PaymentIntentID)

	cust, err := b.commands.Customer(ctx, inv.CustomerID)
	require.NoError(t, err)
	require.Regexp(t, `^cus_`, cust.Customer.StripeCustomerID)
	customers := b.mock.Requests(http.MethodPost, "/v1/customers")
	require.Len(t, customers, 1)
	require.Equal(t, "customer-"+string(inv.CustomerID), customers[0].IdempotencyKey)
	require.Equal(t, "pm_card_visa", customers[0].Form.Get("payment_method"))

	intents := b.mock.Requests(http.MethodPost, "/v1/payment_intents")
	require.Len(t, intents, 1)
	f := intents[0].Form
	require.Equal(t, string(a.PaymentID), intents[0].IdempotencyKey)
	require.Equal(t, "2500", f.Get("amount"))
	require.Equal(t, "eur", f.Get("currency"))
	require.Equal(t, cust.Customer.StripeCustomerID, f.Get("customer"))
	require.Equal(t, "pm_card_visa", f.Get("payment_method"))
	require.Equal(t, "true", f.Get("off_session"))
	require.Equal(t, "true", f.Get("confirm"))
	require.Equal(t, string(inv.Number), f.Get("description"))
	require.Equal(t, string(inv.ID), f.Get("metadata[invoice_id]"))
	require.Equal(t, string(inv.CustomerID), f.Get("metadata[customer_id]"))
	require.Equal(t, string(inv.SubscriptionID), f.Get("metadata[subscription_id]"))
	require.Equal(t, string(a.PaymentID), f.Get("metadata[payment_id]"))

	succeeded := intentEvent("evt_paid_1", stripe.EventPaymentIntentSucceeded, st, a, "succeeded")
	pos, err := b.deliver(t, succeeded)
	require.NoError(t, err)
	require.NotEqual(t, eventstore.Position{}, pos)
	st, v := b.invoice(t, inv.ID)
	require.Equal(t, invoice.StatusPaid, st.Status)
	require.Equal(t, a.PaymentIntentID, st.StripePaymentIntentID)

	// The same event again, and the job again: nothing more.
	pos, err = b.deliver(t, succeeded)
	require.NoError(t, err)
	require.Equal(t, eventstore.Position{}, pos)
	require.NoError(t, b.payments.Charge(ctx, inv.ID, 1, workers.ChargeRun{Retried: true}))
	_, v2 := b.invoice(t, inv.ID)
	require.Equal(t, v, v2)
	require.Len(t, b.mock.Requests(http.MethodPost, "/v1/payment_intents"), 1)
	rec, err := b.payments.Inbox.Record(ctx, "evt_paid_1")
	require.NoError(t, err)
	require.Equal(t, 2, rec.Deliveries)
	require.Equal(t, "applied", rec.Outcome)

	// A second subscription of the customer: the Stripe customer is reused
	// and the new payment method attached to it.
	inv2 := b.subscribeCustomer(t, inv.CustomerID, "pm_card_mastercard")
	require.NoError(t, b.payments.Charge(ctx, inv2.ID, 1, workers.ChargeRun{}))
	require.Len(t, b.mock.Requests(http.MethodPost, "/v1/customers"), 1)
	attach := b.mock.Requests(http.MethodPost, "/v1/payment_methods/pm_card_mastercard/attach")
	require.Len(t, attach, 1)
	require.Equal(t, cust.Customer.StripeCustomerID, attach[0].Form.Get("customer"))
	intents = b.mock.Requests(http.MethodPost, "/v1/payment_intents")
	require.Len(t, intents, 2)
	require.Equal(t, string(workers.PaymentID(inv2.ID, 1)), intents[1].IdempotencyKey)
}

// TestWebhooksInAnyOrder: a failure schedules the retry from the settings
// (one day later, in the business zone); a late success of the same
// attempt still pays the invoice and drops the retry; a processing event
// arriving last, and every duplicate, change nothing. A hard decline
// schedules no retry at all.
func TestWebhooksInAnyOrder(t *testing.T) {
	t.Parallel()
	b := paySetup(t, false)
	ctx := context.Background()
	inv := b.subscribe(t, "pm_card_visa")
	require.NoError(t, b.payments.Charge(ctx, inv.ID, 1, workers.ChargeRun{}))
	st, _ := b.invoice(t, inv.ID)
	a := st.Attempts[0]

	failed := stripetest.WithDecline(intentEvent("evt_f", stripe.EventPaymentIntentFailed, st, a, "requires_payment_method")["data"].(map[string]any)["object"].(map[string]any),
		"card_declined", "insufficient_funds", "Your card has insufficient funds.")
	_, err := b.deliver(t, stripetest.Event("evt_f", stripe.EventPaymentIntentFailed, failed))
	require.NoError(t, err)
	st, _ = b.invoice(t, inv.ID)
	require.Equal(t, invoice.StatusFailed, st.Status)
	require.Equal(t, "insufficient_funds", st.Attempts[0].DeclineCode)
	require.True(t, st.RetryPending)
	require.Equal(t, b.clock().Add(24*time.Hour), *st.NextRetryAt)

	_, err = b.deliver(t, intentEvent("evt_s", stripe.EventPaymentIntentSucceeded, st, a, "succeeded"))
	require.NoError(t, err)
	_, err = b.deliver(t, intentEvent("evt_p", stripe.EventPaymentIntentProcessing, st, a, "processing"))
	require.NoError(t, err)
	_, err = b.deliver(t, stripetest.Event("evt_f", stripe.EventPaymentIntentFailed, failed))
	require.NoError(t, err)

	st, _ = b.invoice(t, inv.ID)
	require.Equal(t, invoice.StatusPaid, st.Status)
	require.False(t, st.RetryPending)
	types := b.types(t, invoice.Stream(inv.ID))
	require.Equal(t, []string{"invoice.created", "invoice.attempt_started", "invoice.attempt_processing",
		"invoice.attempt_failed", "invoice.retry_scheduled", "invoice.attempt_succeeded", "invoice.paid"}, types)

	t.Run("hard decline", func(t *testing.T) {
		inv := b.subscribe(t, "pm_card_visa")
		require.NoError(t, b.payments.Charge(ctx, inv.ID, 1, workers.ChargeRun{}))
		st, _ := b.invoice(t, inv.ID)
		obj := intentEvent("x", "x", st, st.Attempts[0], "requires_payment_method")["data"].(map[string]any)["object"].(map[string]any)
		stripetest.WithDecline(obj, "card_declined", "stolen_card", "Your card was declined.")
		_, err := b.deliver(t, stripetest.Event("evt_hard", stripe.EventPaymentIntentFailed, obj))
		require.NoError(t, err)
		st, _ = b.invoice(t, inv.ID)
		require.True(t, st.RetriesExhausted)
		require.False(t, st.RetryPending)
		require.True(t, st.Attempts[0].Hard)
	})
}

// TestWebhookWithContractMetadata: a payment_intent event that carries only
// the metadata API.md promises (invoice_id, customer_id, subscription_id,
// no payment_id) settles the attempt that recorded its intent; an intent
// the invoice never recorded settles nothing.
func TestWebhookWithContractMetadata(t *testing.T) {
	t.Parallel()
	b := paySetup(t, false)
	ctx := context.Background()
	contractEvent := func(eventID, typ string, inv invoice.State, intent, status string) map[string]any {
		return stripetest.Event(eventID, typ, stripetest.PaymentIntent(intent, status, inv.Amount.Amount(), string(inv.Amount.Currency()),
			map[string]string{"invoice_id": string(inv.ID), "customer_id": string(inv.CustomerID), "subscription_id": string(inv.SubscriptionID)}))
	}

	inv := b.subscribe(t, "pm_card_visa")
	require.NoError(t, b.payments.Charge(ctx, inv.ID, 1, workers.ChargeRun{}))
	st, v := b.invoice(t, inv.ID)

	_, err := b.deliver(t, contractEvent("evt_c1", stripe.EventPaymentIntentSucceeded, st, "pi_unknown_to_us", "succeeded"))
	require.NoError(t, err)
	_, v2 := b.invoice(t, inv.ID)
	require.Equal(t, v, v2)
	rec, err := b.payments.Inbox.Record(ctx, "evt_c1")
	require.NoError(t, err)
	require.Contains(t, rec.Outcome, "ignored")

	_, err = b.deliver(t, contractEvent("evt_c2", stripe.EventPaymentIntentSucceeded, st, st.Attempts[0].PaymentIntentID, "succeeded"))
	require.NoError(t, err)
	st, _ = b.invoice(t, inv.ID)
	require.Equal(t, invoice.StatusPaid, st.Status)
}

// TestWebhookRefusesAndIgnores: a bad signature is ErrInvalidSignature (400);
// events the service did not cause are acknowledged and ignored (so Stripe
// stops retrying them), and the inbox says why.
func TestWebhookRefusesAndIgnores(t *testing.T) {
	t.Parallel()
	b := paySetup(t, false)
	ctx := context.Background()
	ev := stripetest.Event("evt_x", stripe.EventPaymentIntentSucceeded, stripetest.PaymentIntent("pi_1", "succeeded", 100, "EUR", nil))
	body, header := stripetest.SignedPayload(t, ev, "whsec_someone_else", time.Time{})
	_, err := b.payments.ApplyStripeWebhook(ctx, body, header)
	require.ErrorIs(t, err, workers.ErrInvalidSignature)
	_, err = b.payments.ApplyStripeWebhook(ctx, body, "")
	require.ErrorIs(t, err, workers.ErrInvalidSignature)
	_, err = b.payments.Inbox.Record(ctx, "evt_x")
	require.ErrorIs(t, err, stripe.ErrNotReceived, "an unverified delivery leaves no trace")

	junk, junkHeader := stripetest.SignedPayload(t, map[string]any{"id": 1}, stripetest.WebhookSecret, time.Time{})
	_, err = b.payments.ApplyStripeWebhook(ctx, junk, junkHeader)
	require.ErrorIs(t, err, workers.ErrInvalidEvent)

	for _, tc := range []struct {
		event  map[string]any
		reason string
	}{
		{ev, "ignored: not a payment intent of this service"},
		{stripetest.Event("evt_unknown_inv", stripe.EventPaymentIntentSucceeded, stripetest.PaymentIntent("pi_1", "succeeded", 100, "EUR",
			map[string]string{"invoice_id": "inv_nothere", "payment_id": "pay_nothere"})), "ignored: invoice_not_found"},
		{stripetest.Event("evt_customer", "customer.created", map[string]any{"id": "cus_1", "object": "customer"}), "ignored: type not handled"},
		{stripetest.Event("evt_dispute", stripe.EventChargeDisputeCreated, map[string]any{"id": "dp_1", "object": "dispute", "charge": "ch_1",
			"amount": 100, "currency": "eur", "reason": "fraudulent"}), "recorded: dispute dp_1 of ch_1 (fraudulent)"},
		{stripetest.Event("evt_foreign_charge", stripe.EventChargeRefunded, map[string]any{"id": "ch_2", "object": "charge", "payment_intent": "pi_2",
			"amount": 100, "amount_refunded": 100, "currency": "eur"}), "ignored: not a charge of this service"},
	} {
		pos, err := b.deliver(t, tc.event)
		require.NoError(t, err, tc.reason)
		require.Equal(t, eventstore.Position{}, pos, tc.reason)
		rec, err := b.payments.Inbox.Record(ctx, tc.event["id"].(string))
		require.NoError(t, err)
		require.Contains(t, rec.Outcome, tc.reason)
	}
}

// TestCrashBetweenStripeAndRecord kills the charge job between Stripe's
// answer and the record of its outcome (AfterChargeFunc fails it once, as
// a crash at that line would). River retries the job: Stripe gets the same
// PaymentIntent request with the same idempotency key (so real Stripe
// answers with the first PaymentIntent, and charges once), and the invoice
// records exactly one attempt with one outcome.
func TestCrashBetweenStripeAndRecord(t *testing.T) {
	t.Parallel()
	b := paySetup(t, true)
	ctx := context.Background()
	var calls atomic.Int32
	b.payments.AfterChargeFunc = func(context.Context, domain.InvoiceID, int) error {
		if calls.Add(1) == 1 {
			return fmt.Errorf("worker killed after Stripe answered")
		}
		return nil
	}
	inv := b.subscribe(t, "pm_card_visa")
	events, cancel := b.jobs.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled)
	defer cancel()
	enqueued, err := b.payments.RetryCharge(ctx, b.md, inv.ID, nil)
	require.NoError(t, err)
	require.NotEqual(t, eventstore.Position{}, enqueued)

	var job *rivertype.JobRow
	for job == nil {
		select {
		case e := <-events:
			if e.Kind == river.EventKindJobCompleted {
				job = e.Job
			}
		case <-time.After(30 * time.Second):
			t.Fatal("the charge job did not complete")
		}
	}
	require.Equal(t, workers.KindChargeInvoice, job.Kind)
	require.Equal(t, 2, job.Attempt, "failed once, then completed")
	require.Len(t, job.Errors, 1)
	require.Contains(t, job.Errors[0].Error, "worker killed")
	require.EqualValues(t, 2, calls.Load())

	intents := b.mock.Requests(http.MethodPost, "/v1/payment_intents")
	require.Len(t, intents, 2, "the retry asked Stripe again")
	pay := workers.PaymentID(inv.ID, 1)
	require.Equal(t, string(pay), intents[0].IdempotencyKey)
	require.Equal(t, intents[0].IdempotencyKey, intents[1].IdempotencyKey, "with the same idempotency key")
	require.Equal(t, intents[0].Form, intents[1].Form, "and the same parameters, which Stripe requires of a replayed key")
	require.Len(t, b.mock.Requests(http.MethodPost, "/v1/customers"), 1, "the Stripe customer was linked before the crash")

	st, _ := b.invoice(t, inv.ID)
	require.Len(t, st.Attempts, 1)
	require.Equal(t, invoice.AttemptStatusProcessing, st.Attempts[0].Status)
	types := b.types(t, invoice.Stream(inv.ID))
	require.Equal(t, 1, countType(types, "invoice.attempt_started"))
	require.Equal(t, 1, countType(types, "invoice.attempt_processing"))
}

// TestChargeWithoutPaymentMethod: a subscription with no saved payment
// method fails its attempt visibly (no_payment_method, retried on the
// schedule) without calling Stripe.
func TestChargeWithoutPaymentMethod(t *testing.T) {
	t.Parallel()
	b := paySetup(t, false)
	inv := b.subscribe(t, "")
	require.NoError(t, b.payments.Charge(context.Background(), inv.ID, 1, workers.ChargeRun{}))
	st, _ := b.invoice(t, inv.ID)
	require.Equal(t, invoice.StatusFailed, st.Status)
	require.Equal(t, "no_payment_method", st.Attempts[0].DeclineCode)
	require.True(t, st.RetryPending)
	require.Empty(t, b.mock.Requests("", ""))
}

// TestStaleChargeJobs: a job for an attempt that is taken, out of sequence,
// or for a paid invoice does nothing; one for a missing invoice is
// cancelled.
func TestStaleChargeJobs(t *testing.T) {
	t.Parallel()
	b := paySetup(t, false)
	ctx := context.Background()
	inv := b.subscribe(t, "pm_card_visa")
	require.NoError(t, b.payments.Charge(ctx, inv.ID, 3, workers.ChargeRun{}), "out of sequence")
	require.NoError(t, b.payments.Charge(ctx, inv.ID, 1, workers.ChargeRun{}))
	require.NoError(t, b.payments.Charge(ctx, inv.ID, 2, workers.ChargeRun{}), "attempt 1 awaits its outcome")
	st, _ := b.invoice(t, inv.ID)
	require.Len(t, st.Attempts, 1)
	require.Len(t, b.mock.Requests(http.MethodPost, "/v1/payment_intents"), 1)

	err := b.payments.Charge(ctx, "inv_doesnotexist", 1, workers.ChargeRun{})
	var cancel *river.JobCancelError
	require.ErrorAs(t, err, &cancel)
}

// TestRetryCharge is POST /v1/invoices/{id}/retry: the next attempt is
// recorded and its job enqueued, once (charge_attempts); a second retry
// while it is pending is 409 payment_attempt_pending; a pending attempt
// whose job was never enqueued (a crash between the two steps) gets its
// job from the next retry; a paid invoice cannot be retried; If-Match is
// honoured.
func TestRetryCharge(t *testing.T) {
	t.Parallel()
	b := paySetup(t, false)
	ctx := context.Background()
	inv := b.subscribe(t, "pm_card_visa")
	chargeJobs := func() []*rivertype.JobRow {
		res, err := b.jobs.JobList(ctx, river.NewJobListParams().Kinds(workers.KindChargeInvoice).First(100))
		require.NoError(t, err)
		return res.Jobs
	}

	// Attempt 1 through the worker, failed by webhook.
	require.NoError(t, b.payments.Charge(ctx, inv.ID, 1, workers.ChargeRun{}))
	st, v := b.invoice(t, inv.ID)
	obj := intentEvent("x", "x", st, st.Attempts[0], "requires_payment_method")["data"].(map[string]any)["object"].(map[string]any)
	_, err := b.deliver(t, stripetest.Event("evt_fail_1", stripe.EventPaymentIntentFailed, stripetest.WithDecline(obj, "card_declined", "generic_decline", "Declined")))
	require.NoError(t, err)

	stale := v
	_, err = b.payments.RetryCharge(ctx, b.md, inv.ID, &stale)
	require.ErrorIs(t, err, eventstore.ErrVersionMismatch)

	_, v = b.invoice(t, inv.ID)
	pos, err := b.payments.RetryCharge(ctx, b.md, inv.ID, &v)
	require.NoError(t, err)
	require.NotEqual(t, eventstore.Position{}, pos)
	st, _ = b.invoice(t, inv.ID)
	require.Len(t, st.Attempts, 2)
	require.Equal(t, workers.PaymentID(inv.ID, 2), st.Attempts[1].PaymentID)
	require.False(t, st.RetryPending, "the manual retry replaces the scheduled one")
	jobs := chargeJobs()
	require.Len(t, jobs, 1)
	require.JSONEq(t, fmt.Sprintf(`{"invoice_id":%q,"attempt":2}`, inv.ID), string(jobs[0].EncodedArgs))

	_, err = b.payments.RetryCharge(ctx, b.md, inv.ID, nil)
	require.ErrorIs(t, err, invoice.ErrAttemptPending)

	// The scheduled retry of attempt 2 racing the manual one: no second job.
	require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		ok, err := workers.EnqueueChargeAttempt(ctx, tx, b.jobs, inv.ID, 2)
		require.False(t, ok)
		return err
	}))

	// The job works attempt 2 (StartAttempt is a no-op: same payment id).
	require.NoError(t, b.payments.Charge(ctx, inv.ID, 2, workers.ChargeRun{}))
	st, _ = b.invoice(t, inv.ID)
	require.Equal(t, invoice.AttemptStatusProcessing, st.Attempts[1].Status)
	require.Equal(t, string(workers.PaymentID(inv.ID, 2)), b.mock.Requests(http.MethodPost, "/v1/payment_intents")[1].IdempotencyKey)
	obj = intentEvent("x", "x", st, st.Attempts[1], "requires_payment_method")["data"].(map[string]any)["object"].(map[string]any)
	_, err = b.deliver(t, stripetest.Event("evt_fail_2", stripe.EventPaymentIntentFailed, stripetest.WithDecline(obj, "card_declined", "generic_decline", "Declined")))
	require.NoError(t, err)

	// Attempt 3 recorded, then the process died before enqueuing it.
	_, err = eventstore.Execute(ctx, b.store, invoice.Aggregate, invoice.Stream(inv.ID),
		invoice.Command(invoice.StartAttempt{PaymentID: workers.PaymentID(inv.ID, 3), Attempt: 3, At: b.clock()}), eventstore.ExecuteOptions{})
	require.NoError(t, err)
	_, err = b.payments.RetryCharge(ctx, b.md, inv.ID, nil)
	require.NoError(t, err, "the orphaned attempt gets its job")
	st, _ = b.invoice(t, inv.ID)
	require.Len(t, st.Attempts, 3, "and no new attempt")
	require.Len(t, chargeJobs(), 2)
	_, err = b.payments.RetryCharge(ctx, b.md, inv.ID, nil)
	require.ErrorIs(t, err, invoice.ErrAttemptPending)

	// Paid: nothing to retry.
	require.NoError(t, b.payments.Charge(ctx, inv.ID, 3, workers.ChargeRun{}))
	st, _ = b.invoice(t, inv.ID)
	_, err = b.deliver(t, intentEvent("evt_paid_3", stripe.EventPaymentIntentSucceeded, st, st.Attempts[2], "succeeded"))
	require.NoError(t, err)
	_, err = b.payments.RetryCharge(ctx, b.md, inv.ID, nil)
	require.ErrorIs(t, err, invoice.ErrInvoicePaid)

	_, err = b.payments.RetryCharge(ctx, b.md, "inv_nothere", nil)
	require.ErrorIs(t, err, invoice.ErrInvoiceNotFound)
}

// TestRefund refunds through Stripe against the paying PaymentIntent, with
// the refund command's id as idempotency key, and records Stripe's refund
// id; the domain's limits answer before Stripe is called; a charge.refunded
// webhook records refunds made in the Stripe dashboard and ignores the
// ones already known.
func TestRefund(t *testing.T) {
	t.Parallel()
	b := paySetup(t, false)
	ctx := context.Background()
	inv := b.subscribe(t, "pm_card_visa")

	_, err := b.payments.Refund(ctx, b.md, inv.ID, nil, "rfc_unpaid", nil)
	require.ErrorIs(t, err, invoice.ErrInvoiceNotPaid)

	require.NoError(t, b.payments.Charge(ctx, inv.ID, 1, workers.ChargeRun{}))
	st, _ := b.invoice(t, inv.ID)
	intent := st.Attempts[0].PaymentIntentID
	_, err = b.deliver(t, intentEvent("evt_paid", stripe.EventPaymentIntentSucceeded, st, st.Attempts[0], "succeeded"))
	require.NoError(t, err)

	ten := domain.Cents(1000)
	pos, err := b.payments.Refund(ctx, b.md, inv.ID, &ten, "rfc_1", nil)
	require.NoError(t, err)
	require.NotEqual(t, eventstore.Position{}, pos)
	refunds := b.mock.Requests(http.MethodPost, "/v1/refunds")
	require.Len(t, refunds, 1)
	require.Equal(t, "refund-rfc_1", refunds[0].IdempotencyKey)
	require.Equal(t, intent, refunds[0].Form.Get("payment_intent"))
	require.Equal(t, "1000", refunds[0].Form.Get("amount"))
	require.Equal(t, "rfc_1", refunds[0].Form.Get("metadata[refund_id]"))
	require.Equal(t, string(inv.ID), refunds[0].Form.Get("metadata[invoice_id]"))
	st, _ = b.invoice(t, inv.ID)
	require.Len(t, st.Refunds, 1)
	require.Regexp(t, `^re_`, st.Refunds[0].RefundID)
	require.Equal(t, domain.Cents(1000), st.RefundedAmount)
	ours := st.Refunds[0].RefundID

	big := domain.Cents(2000)
	_, err = b.payments.Refund(ctx, b.md, inv.ID, &big, "rfc_2", nil)
	require.ErrorIs(t, err, invoice.ErrRefundExceedsPaid)
	require.Len(t, b.mock.Requests(http.MethodPost, "/v1/refunds"), 1, "refused before Stripe")

	// charge.refunded listing our refund and one made in the dashboard.
	charge := map[string]any{"id": "ch_1", "object": "charge", "amount": 2500, "amount_refunded": 1500, "currency": "eur",
		"payment_intent": intent, "metadata": map[string]string{"invoice_id": string(inv.ID)},
		"refunds": map[string]any{"object": "list", "data": []any{
			map[string]any{"id": ours, "object": "refund", "amount": 1000, "currency": "eur", "status": "succeeded", "payment_intent": intent},
			map[string]any{"id": "re_dashboard", "object": "refund", "amount": 500, "currency": "eur", "status": "succeeded", "payment_intent": intent},
			map[string]any{"id": "re_failed", "object": "refund", "amount": 700, "currency": "eur", "status": "failed", "payment_intent": intent},
		}}}
	_, err = b.deliver(t, stripetest.Event("evt_refunded", stripe.EventChargeRefunded, charge))
	require.NoError(t, err)
	st, _ = b.invoice(t, inv.ID)
	require.Len(t, st.Refunds, 2)
	require.Equal(t, "re_dashboard", st.Refunds[1].RefundID)
	require.Equal(t, domain.Cents(1500), st.RefundedAmount)

	// The rest (no amount): 1000 left, and the invoice is refunded.
	_, err = b.payments.Refund(ctx, b.md, inv.ID, nil, "rfc_3", nil)
	require.NoError(t, err)
	refunds = b.mock.Requests(http.MethodPost, "/v1/refunds")
	require.Len(t, refunds, 2)
	require.Equal(t, "1000", refunds[1].Form.Get("amount"))
	st, _ = b.invoice(t, inv.ID)
	require.Equal(t, invoice.StatusRefunded, st.Status)

	// The same command id always gives the same Stripe idempotency key.
	require.Equal(t, workers.RefundCommandID(inv.ID, "key-1"), workers.RefundCommandID(inv.ID, "key-1"))
	require.NotEqual(t, workers.RefundCommandID(inv.ID, "key-1"), workers.RefundCommandID(inv.ID, "key-2"))
	require.NotEqual(t, workers.RefundCommandID(inv.ID, ""), workers.RefundCommandID(inv.ID, ""))
}

// TestRefundWorker: a refund_invoice job refunds through the same path; a
// refusal cancels the job.
func TestRefundWorker(t *testing.T) {
	t.Parallel()
	b := paySetup(t, true)
	ctx := context.Background()
	inv := b.subscribe(t, "pm_card_visa")
	require.NoError(t, b.payments.Charge(ctx, inv.ID, 1, workers.ChargeRun{}))
	st, _ := b.invoice(t, inv.ID)
	_, err := b.deliver(t, intentEvent("evt_paid", stripe.EventPaymentIntentSucceeded, st, st.Attempts[0], "succeeded"))
	require.NoError(t, err)

	events, cancel := b.jobs.Subscribe(river.EventKindJobCompleted, river.EventKindJobCancelled, river.EventKindJobFailed)
	defer cancel()
	five := domain.Cents(500)
	_, err = b.jobs.Insert(ctx, workers.RefundArgs{InvoiceID: inv.ID, RefundID: "rfc_job", Amount: &five}, nil)
	require.NoError(t, err)
	tooMuch := domain.Cents(9900)
	_, err = b.jobs.Insert(ctx, workers.RefundArgs{InvoiceID: inv.ID, RefundID: "rfc_job2", Amount: &tooMuch}, nil)
	require.NoError(t, err)
	states := map[string]rivertype.JobState{}
	for len(states) < 2 {
		select {
		case e := <-events:
			var a workers.RefundArgs
			require.NoError(t, json.Unmarshal(e.Job.EncodedArgs, &a))
			states[a.RefundID] = e.Job.State
		case <-time.After(30 * time.Second):
			t.Fatal("refund jobs did not finish")
		}
	}
	require.Equal(t, rivertype.JobStateCompleted, states["rfc_job"])
	require.Equal(t, rivertype.JobStateCancelled, states["rfc_job2"])
	st, _ = b.invoice(t, inv.ID)
	require.Equal(t, domain.Cents(500), st.RefundedAmount)
	require.Len(t, b.mock.Requests(http.MethodPost, "/v1/refunds"), 1)
}
