package stripe_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/eventstore/postgres/pgtest"
	"github.com/subsd/subsd/workers/stripe"
	"github.com/subsd/subsd/workers/stripe/stripetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	stripetest.Stop()
	os.Exit(code)
}

type bundle struct {
	mock   *stripetest.Mock
	client *stripe.Client
}

func setup(t *testing.T) bundle {
	t.Helper()
	mock := stripetest.Start(t)
	c, err := stripe.New(stripe.Config{SecretKey: stripetest.SecretKey, APIBase: mock.URL, WebhookSecret: stripetest.WebhookSecret})
	require.NoError(t, err)
	return bundle{mock: mock, client: c}
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	_, err := stripe.New(stripe.Config{})
	require.Error(t, err)
	_, err = stripe.New(stripe.Config{SecretKey: "sk_test_x", APIBase: "localhost:12111"})
	require.Error(t, err)
}

// TestCreatePaymentIntent: an off-session, confirmed PaymentIntent for the
// saved payment method, with the invoice's ids in its metadata and the
// payment id as the idempotency key; stripe-mock answers
// requires_payment_method, as the brief says.
func TestCreatePaymentIntent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	pi, err := b.client.CreatePaymentIntent(context.Background(), stripe.PaymentRequest{
		Amount: 2495, Currency: "EUR", Customer: "cus_123", PaymentMethod: "pm_card_visa",
		Description:    "INV-2026-000042",
		Metadata:       stripe.Metadata{InvoiceID: "inv_1", CustomerID: "cus_1", SubscriptionID: "sub_1", PaymentID: "pay_1"},
		IdempotencyKey: "pay_1",
	})
	require.NoError(t, err)
	require.Regexp(t, `^pi_`, pi.ID)
	require.Equal(t, stripe.StatusRequiresPaymentMethod, pi.Status)

	reqs := b.mock.Requests(http.MethodPost, "/v1/payment_intents")
	require.Len(t, reqs, 1)
	r := reqs[0]
	require.Equal(t, "pay_1", r.IdempotencyKey)
	require.Equal(t, http.StatusOK, r.Status)
	for k, v := range map[string]string{
		"amount":         "2495",
		"currency":       "eur",
		"customer":       "cus_123",
		"payment_method": "pm_card_visa",
		"off_session":    "true",
		"confirm":        "true",
		"description":    "INV-2026-000042",
		"automatic_payment_methods[allow_redirects]": "never",
		"metadata[invoice_id]":                       "inv_1",
		"metadata[customer_id]":                      "cus_1",
		"metadata[subscription_id]":                  "sub_1",
		"metadata[payment_id]":                       "pay_1",
	} {
		require.Equal(t, v, r.Form.Get(k), k)
	}

	_, err = b.client.CreatePaymentIntent(context.Background(), stripe.PaymentRequest{Amount: 1, Currency: "EUR"})
	require.Error(t, err, "no idempotency key, no request")
	require.Len(t, b.mock.Requests(http.MethodPost, "/v1/payment_intents"), 1)
}

// TestCustomerAndPaymentMethod: the Stripe customer is created with the
// payment method attached and made the default; a payment method that
// belongs to no one is attached.
func TestCustomerAndPaymentMethod(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	id, err := b.client.CreateCustomer(ctx, stripe.CustomerRequest{
		CustomerID: "cus_ours", Name: "Ann de Vries", Email: "ann@example.nl", PaymentMethod: "pm_1",
		IdempotencyKey: "customer-cus_ours",
	})
	require.NoError(t, err)
	require.Regexp(t, `^cus_`, id)
	reqs := b.mock.Requests(http.MethodPost, "/v1/customers")
	require.Len(t, reqs, 1)
	require.Equal(t, "customer-cus_ours", reqs[0].IdempotencyKey)
	require.Equal(t, "pm_1", reqs[0].Form.Get("payment_method"))
	require.Equal(t, "pm_1", reqs[0].Form.Get("invoice_settings[default_payment_method]"))
	require.Equal(t, "cus_ours", reqs[0].Form.Get("metadata[customer_id]"))

	// stripe-mock's payment method belongs to no customer: it is attached.
	require.NoError(t, b.client.EnsureAttached(ctx, "pm_2", id))
	attach := b.mock.Requests(http.MethodPost, "/v1/payment_methods/pm_2/attach")
	require.Len(t, attach, 1)
	require.Equal(t, id, attach[0].Form.Get("customer"))
	require.NotEmpty(t, attach[0].IdempotencyKey)

	pm, err := b.client.DefaultPaymentMethod(ctx, id)
	require.NoError(t, err)
	require.Empty(t, pm, "stripe-mock's customer has no default payment method")
}

// TestRefund: a refund of a payment intent with the refund command's
// idempotency key and the invoice's ids.
func TestRefund(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r, err := b.client.Refund(context.Background(), stripe.RefundRequest{
		PaymentIntentID: "pi_1", Amount: 500,
		Metadata:       stripe.Metadata{InvoiceID: "inv_1", RefundID: "rfc_1"},
		IdempotencyKey: "refund-rfc_1",
	})
	require.NoError(t, err)
	require.Regexp(t, `^re_`, r.ID)
	reqs := b.mock.Requests(http.MethodPost, "/v1/refunds")
	require.Len(t, reqs, 1)
	require.Equal(t, "refund-rfc_1", reqs[0].IdempotencyKey)
	require.Equal(t, "pi_1", reqs[0].Form.Get("payment_intent"))
	require.Equal(t, "500", reqs[0].Form.Get("amount"))
	require.Equal(t, "rfc_1", reqs[0].Form.Get("metadata[refund_id]"))

	list, err := b.client.Refunds(context.Background(), "pi_1")
	require.NoError(t, err)
	require.NotEmpty(t, list)
}

// TestFindPaymentIntent: the search answer is checked, so stripe-mock's
// fixture (another payment's intent) is not taken for ours.
func TestFindPaymentIntent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, found, err := b.client.FindPaymentIntent(context.Background(), "pay_x")
	require.NoError(t, err)
	require.False(t, found)
	reqs := b.mock.Requests(http.MethodGet, "/v1/payment_intents/search")
	require.Len(t, reqs, 1)
}

// TestErrorKinds: a refused key is KindAuthentication, an unreachable
// Stripe KindUnavailable; both are worth retrying.
func TestErrorKinds(t *testing.T) {
	t.Parallel()
	b := setup(t)
	bad, err := stripe.New(stripe.Config{SecretKey: "rk_bad", APIBase: b.mock.URL})
	require.NoError(t, err)
	_, err = bad.PaymentIntent(context.Background(), "pi_1")
	var se *stripe.Error
	require.ErrorAs(t, err, &se)
	require.Equal(t, stripe.KindAuthentication, se.Kind)
	require.True(t, se.Temporary())

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	down, err := stripe.New(stripe.Config{SecretKey: stripetest.SecretKey, APIBase: "http://" + addr, MaxNetworkRetries: -1})
	require.NoError(t, err)
	_, err = down.PaymentIntent(context.Background(), "pi_1")
	require.ErrorAs(t, err, &se)
	require.Equal(t, stripe.KindUnavailable, se.Kind)
	require.True(t, stripe.IsKind(err, stripe.KindUnavailable))
}

func TestVerifyWebhook(t *testing.T) {
	t.Parallel()
	pi := stripetest.WithDecline(
		stripetest.PaymentIntent("pi_9", "requires_payment_method", 1500, "EUR",
			map[string]string{"invoice_id": "inv_1", "payment_id": "pay_1", "customer_id": "cus_1"}),
		"card_declined", "insufficient_funds", "Your card has insufficient funds.")
	event := stripetest.Event("evt_1", stripe.EventPaymentIntentFailed, pi)
	body, header := stripetest.SignedPayload(t, event, stripetest.WebhookSecret, time.Time{})

	e, err := stripe.VerifyWebhook(body, header, stripetest.WebhookSecret)
	require.NoError(t, err)
	require.Equal(t, "evt_1", e.ID)
	require.Equal(t, stripe.EventPaymentIntentFailed, e.Type)
	require.Equal(t, "pi_9", e.ObjectID())
	require.NotNil(t, e.PaymentIntent)
	require.Equal(t, int64(1500), e.PaymentIntent.Amount)
	require.Equal(t, "EUR", e.PaymentIntent.Currency)
	require.Equal(t, stripe.Metadata{InvoiceID: "inv_1", PaymentID: "pay_1", CustomerID: "cus_1"}, e.PaymentIntent.Metadata)
	require.Equal(t, "insufficient_funds", e.PaymentIntent.LastError.FailureCode())
	require.Equal(t, "Your card has insufficient funds.", e.PaymentIntent.LastError.Message)

	t.Run("wrong secret", func(t *testing.T) {
		_, err := stripe.VerifyWebhook(body, header, "whsec_other")
		require.ErrorIs(t, err, stripe.ErrBadSignature)
	})
	t.Run("tampered body", func(t *testing.T) {
		tampered := append([]byte{}, body...)
		tampered[len(tampered)-2] = ' '
		_, err := stripe.VerifyWebhook(tampered, header, stripetest.WebhookSecret)
		require.ErrorIs(t, err, stripe.ErrBadSignature)
	})
	t.Run("unsigned", func(t *testing.T) {
		_, err := stripe.VerifyWebhook(body, "", stripetest.WebhookSecret)
		require.ErrorIs(t, err, stripe.ErrBadSignature)
	})
	t.Run("older than the tolerance", func(t *testing.T) {
		old, oldHeader := stripetest.SignedPayload(t, event, stripetest.WebhookSecret, time.Now().Add(-stripe.WebhookTolerance-time.Minute))
		_, err := stripe.VerifyWebhook(old, oldHeader, stripetest.WebhookSecret)
		require.ErrorIs(t, err, stripe.ErrBadSignature)
		// Within it is fine.
		recent, recentHeader := stripetest.SignedPayload(t, event, stripetest.WebhookSecret, time.Now().Add(-stripe.WebhookTolerance+time.Minute))
		_, err = stripe.VerifyWebhook(recent, recentHeader, stripetest.WebhookSecret)
		require.NoError(t, err)
	})
	t.Run("signed but not an event", func(t *testing.T) {
		junk, junkHeader := stripetest.SignedPayload(t, map[string]any{"hello": "world"}, stripetest.WebhookSecret, time.Time{})
		_, err := stripe.VerifyWebhook(junk, junkHeader, stripetest.WebhookSecret)
		require.Error(t, err)
		require.NotErrorIs(t, err, stripe.ErrBadSignature)
	})
	t.Run("another api version", func(t *testing.T) {
		ev := stripetest.Event("evt_2", stripe.EventPaymentIntentSucceeded, stripetest.PaymentIntent("pi_9", "succeeded", 1500, "EUR", nil))
		ev["api_version"] = "2025-01-27.acacia"
		b, h := stripetest.SignedPayload(t, ev, stripetest.WebhookSecret, time.Time{})
		e, err := stripe.VerifyWebhook(b, h, stripetest.WebhookSecret)
		require.NoError(t, err)
		require.Equal(t, stripe.StatusSucceeded, e.PaymentIntent.Status)
	})
}

func TestVerifyWebhookChargeAndDispute(t *testing.T) {
	t.Parallel()
	charge := map[string]any{
		"id": "ch_1", "object": "charge", "amount": 1500, "amount_refunded": 500, "currency": "eur",
		"payment_intent": "pi_9", "metadata": map[string]string{"invoice_id": "inv_1"},
		"refunds": map[string]any{"object": "list", "data": []any{
			map[string]any{"id": "re_1", "object": "refund", "amount": 500, "currency": "eur", "status": "succeeded", "payment_intent": "pi_9"},
		}},
	}
	body, header := stripetest.SignedPayload(t, stripetest.Event("evt_c", stripe.EventChargeRefunded, charge), stripetest.WebhookSecret, time.Time{})
	e, err := stripe.VerifyWebhook(body, header, stripetest.WebhookSecret)
	require.NoError(t, err)
	require.NotNil(t, e.Charge)
	require.Equal(t, "pi_9", e.Charge.PaymentIntentID)
	require.True(t, e.Charge.RefundsIncluded)
	require.Equal(t, []stripe.Refund{{ID: "re_1", PaymentIntentID: "pi_9", Amount: 500, Currency: "EUR", Status: "succeeded"}}, e.Charge.Refunds)

	delete(charge, "refunds")
	body, header = stripetest.SignedPayload(t, stripetest.Event("evt_d", stripe.EventChargeRefunded, charge), stripetest.WebhookSecret, time.Time{})
	e, err = stripe.VerifyWebhook(body, header, stripetest.WebhookSecret)
	require.NoError(t, err)
	require.False(t, e.Charge.RefundsIncluded, "API versions since 2022-11-15 send no refunds")

	dispute := map[string]any{"id": "dp_1", "object": "dispute", "amount": 1500, "currency": "eur", "charge": "ch_1",
		"payment_intent": "pi_9", "reason": "fraudulent", "status": "needs_response"}
	body, header = stripetest.SignedPayload(t, stripetest.Event("evt_e", stripe.EventChargeDisputeCreated, dispute), stripetest.WebhookSecret, time.Time{})
	e, err = stripe.VerifyWebhook(body, header, stripetest.WebhookSecret)
	require.NoError(t, err)
	require.Equal(t, &stripe.Dispute{ID: "dp_1", ChargeID: "ch_1", PaymentIntentID: "pi_9", Amount: 1500, Currency: "EUR",
		Reason: "fraudulent", Status: "needs_response"}, e.Dispute)
}

// TestInbox: a delivery is recorded by event id; a redelivery is counted
// and recognised as applied only once MarkApplied was called.
func TestInbox(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	require.NoError(t, stripe.Migrate(ctx, pool))
	require.NoError(t, stripe.Migrate(ctx, pool), "idempotent")
	in := stripe.NewInbox(pool)
	e := stripe.Event{ID: "evt_1", Type: stripe.EventPaymentIntentSucceeded, Created: time.Now(),
		PaymentIntent: &stripe.PaymentIntent{ID: "pi_1"}}

	applied, err := in.Receive(ctx, e)
	require.NoError(t, err)
	require.False(t, applied)
	applied, err = in.Receive(ctx, e)
	require.NoError(t, err)
	require.False(t, applied, "an earlier delivery that did not finish applying is applied again")
	require.NoError(t, in.MarkApplied(ctx, "evt_1", "applied"))
	require.NoError(t, in.MarkApplied(ctx, "evt_1", "something else"))
	applied, err = in.Receive(ctx, e)
	require.NoError(t, err)
	require.True(t, applied)

	rec, err := in.Record(ctx, "evt_1")
	require.NoError(t, err)
	require.Equal(t, 3, rec.Deliveries)
	require.Equal(t, "pi_1", rec.ObjectID)
	require.Equal(t, "applied", rec.Outcome, "the first outcome stays")
	require.NotNil(t, rec.AppliedAt)

	_, err = in.Record(ctx, "evt_unknown")
	require.ErrorIs(t, err, stripe.ErrNotReceived)
}
