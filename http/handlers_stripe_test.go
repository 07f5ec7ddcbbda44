package http

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
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
	"github.com/subsd/subsd/projections"
	"github.com/subsd/subsd/workers"
	"github.com/subsd/subsd/workers/stripe"
	"github.com/subsd/subsd/workers/stripe/stripetest"
)

// stripeBundle is a server with real payments: PostgreSQL (store, read
// models running, River insert-only) and stripe-mock.
type stripeBundle struct {
	h        http.Handler
	store    eventstore.Store
	commands *command.Service
	payments *workers.Payments
	mock     *stripetest.Mock
	jobs     *workers.Client
}

func stripeSetup(t *testing.T) *stripeBundle {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	for _, m := range []func(context.Context, *pgxpool.Pool) error{postgres.Migrate, eventrouter.Migrate, command.Migrate,
		projections.Migrate, workers.Migrate, stripe.Migrate, Migrate} {
		require.NoError(t, m(ctx, pool))
	}
	store := postgres.New(pool)
	require.NoError(t, projections.Ensure(ctx, pool, store))
	logger := slog.New(slog.DiscardHandler)
	runCtx, cancel := context.WithCancel(ctx)
	router, err := eventrouter.NewRouter(pool, store, eventrouter.Config{Logger: logger})
	require.NoError(t, err)
	projections.Register(router)
	routed := make(chan error, 1)
	go func() { routed <- router.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-routed })

	reader := projections.NewReader(pool, projections.WithStore(store))
	t.Cleanup(reader.Close)
	b := &stripeBundle{store: store, mock: stripetest.Start(t)}
	b.commands = command.New(command.Deps{Store: store, Pool: pool})
	sc, err := stripe.New(stripe.Config{SecretKey: stripetest.SecretKey, APIBase: b.mock.URL, WebhookSecret: stripetest.WebhookSecret})
	require.NoError(t, err)
	b.jobs, err = workers.NewClient(pool, workers.ClientConfig{Logger: logger})
	require.NoError(t, err)
	b.payments = &workers.Payments{Store: store, Pool: pool, Jobs: b.jobs, Stripe: sc, Inbox: stripe.NewInbox(pool), Logger: logger}
	srv := &Server{Store: store, Pool: pool, Reader: reader, Commands: b.commands, Payments: b.payments, Logger: logger,
		Tokens: map[string]Role{"tok-support": RoleSupport, "tok-auditor": RoleAuditor}}
	b.h = srv.Handler()
	return b
}

// refundScope is the scoped Idempotency-Key a request of token to path
// with key gets (see idempotent).
func refundScope(t *testing.T, token, path, key string) string {
	t.Helper()
	h := sha256.Sum256([]byte(token))
	return fmt.Sprintf("%x/%s/%s/%s", h[:8], http.MethodPost, path, key)
}

// subscribedInvoice makes a customer, a subscription with a payment method
// and its first invoice, and returns the invoice.
func (b *stripeBundle) subscribedInvoice(t *testing.T) invoice.State {
	t.Helper()
	ctx := context.Background()
	md := eventstore.Metadata{Actor: "admin:test"}
	cus, err := b.commands.CreateCustomer(ctx, md, customer.Register{FirstName: "Ann", LastName: "de Vries", Email: "ann@example.nl",
		Address: domain.Address{Street: "Keizersgracht 1", Zipcode: "1015 CJ", City: "Amsterdam", Country: "NL"}})
	require.NoError(t, err)
	sub, err := b.commands.CreateSubscription(ctx, md, subscription.Create{CustomerID: cus.Customer.ID, PaymentMethodID: "pm_card_visa",
		DeliveryMethod: subscription.Delivery,
		Plan:           subscription.Plan{Name: "Coffee", Price: domain.Cents(2500), Interval: domain.Interval{Unit: domain.Month, Count: 1}}})
	require.NoError(t, err)
	return sub.Invoice.Invoice
}

func (b *stripeBundle) do(t *testing.T, method, path, token string, body []byte, header map[string]string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	return rec
}

// TestStripeWebhookRoute: POST /v1/webhooks/stripe needs no token but a
// valid signature (400 invalid_signature otherwise); an event that records
// something answers 200 with X-Event-Position, which a GET can wait for;
// the same event again answers 200 and appends nothing.
func TestStripeWebhookRoute(t *testing.T) {
	t.Parallel()
	b := stripeSetup(t)
	inv := b.subscribedInvoice(t)
	rec := b.do(t, http.MethodPost, "/v1/invoices/"+string(inv.ID)+"/retry", "tok-support", nil, nil)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	pay := workers.PaymentID(inv.ID, 1)

	event := stripetest.Event("evt_http_1", stripe.EventPaymentIntentSucceeded, stripetest.PaymentIntent("pi_http1", "succeeded", 2500, "EUR",
		map[string]string{"invoice_id": string(inv.ID), "payment_id": string(pay), "customer_id": string(inv.CustomerID)}))
	body, sig := stripetest.SignedPayload(t, event, stripetest.WebhookSecret, time.Time{})

	rec = b.do(t, http.MethodPost, "/v1/webhooks/stripe", "", body, map[string]string{"Stripe-Signature": "t=1,v1=00"})
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.Equal(t, "invalid_signature", errorCode(t, rec))
	rec = b.do(t, http.MethodPost, "/v1/webhooks/stripe", "", body, nil)
	require.Equal(t, http.StatusBadRequest, rec.Code)

	rec = b.do(t, http.MethodPost, "/v1/webhooks/stripe", "", body, map[string]string{"Stripe-Signature": sig})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.JSONEq(t, `{"received": true}`, rec.Body.String())
	pos := rec.Header().Get("X-Event-Position")
	require.NotEmpty(t, pos)

	rec = b.do(t, http.MethodGet, "/v1/invoices/"+string(inv.ID), "tok-auditor", nil, map[string]string{"X-Min-Position": pos})
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var doc struct {
		Status                string `json:"status"`
		StripePaymentIntentID string `json:"stripe_payment_intent_id"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
	require.Equal(t, "paid", doc.Status)
	require.Equal(t, "pi_http1", doc.StripePaymentIntentID)

	rec = b.do(t, http.MethodPost, "/v1/webhooks/stripe", "", body, map[string]string{"Stripe-Signature": sig})
	require.Equal(t, http.StatusOK, rec.Code)
	require.Empty(t, rec.Header().Get("X-Event-Position"), "a redelivery appends nothing")

	// Paid: no retry.
	rec = b.do(t, http.MethodPost, "/v1/invoices/"+string(inv.ID)+"/retry", "tok-support", nil, nil)
	require.Equal(t, http.StatusConflict, rec.Code)
	require.Equal(t, "invoice_already_paid", errorCode(t, rec))
}

// TestRetryAndRefundRoutes: retry answers 202 with the invoice showing the
// pending attempt; refund goes through Stripe and answers with the
// refunded invoice; the domain's refusals are 409 and 404; auditors may
// not; a request's Idempotency-Key replays the first answer without a
// second Stripe refund.
func TestRetryAndRefundRoutes(t *testing.T) {
	t.Parallel()
	b := stripeSetup(t)
	ctx := context.Background()
	inv := b.subscribedInvoice(t)
	path := "/v1/invoices/" + string(inv.ID)

	rec := b.do(t, http.MethodPost, path+"/refund", "tok-support", nil, nil)
	require.Equal(t, http.StatusConflict, rec.Code)
	require.Equal(t, "invoice_not_paid", errorCode(t, rec))
	rec = b.do(t, http.MethodPost, path+"/retry", "tok-auditor", nil, nil)
	require.Equal(t, http.StatusForbidden, rec.Code)
	rec = b.do(t, http.MethodPost, "/v1/invoices/inv_nothere/retry", "tok-support", nil, nil)
	require.Equal(t, http.StatusNotFound, rec.Code)
	rec = b.do(t, http.MethodPost, path+"/retry", "tok-support", []byte(`{"x":1}`), nil)
	require.Equal(t, http.StatusBadRequest, rec.Code)

	rec = b.do(t, http.MethodPost, path+"/retry", "tok-support", nil, nil)
	require.Equal(t, http.StatusAccepted, rec.Code, rec.Body.String())
	require.NotEmpty(t, rec.Header().Get("X-Event-Position"))
	var doc struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
	require.Equal(t, string(inv.ID), doc.ID)
	rec = b.do(t, http.MethodPost, path+"/retry", "tok-support", nil, nil)
	require.Equal(t, http.StatusConflict, rec.Code)
	require.Equal(t, "payment_attempt_pending", errorCode(t, rec))

	// The worker charges it; the webhook pays it.
	require.NoError(t, b.payments.Charge(ctx, inv.ID, 1, workers.ChargeRun{}))
	st, _, err := eventstore.Load(ctx, b.store, invoice.Aggregate, invoice.Stream(inv.ID))
	require.NoError(t, err)
	a := st.Attempts[0]
	event := stripetest.Event("evt_paid", stripe.EventPaymentIntentSucceeded, stripetest.PaymentIntent(a.PaymentIntentID, "succeeded", 2500, "EUR",
		map[string]string{"invoice_id": string(inv.ID), "payment_id": string(a.PaymentID)}))
	body, sig := stripetest.SignedPayload(t, event, stripetest.WebhookSecret, time.Time{})
	rec = b.do(t, http.MethodPost, "/v1/webhooks/stripe", "", body, map[string]string{"Stripe-Signature": sig})
	require.Equal(t, http.StatusOK, rec.Code)

	rec = b.do(t, http.MethodPost, path+"/refund", "tok-support", []byte(`{"amount": {"amount": 9999, "currency": "EUR"}}`), nil)
	require.Equal(t, http.StatusConflict, rec.Code)
	require.Equal(t, "refund_exceeds_paid", errorCode(t, rec))
	require.Empty(t, b.mock.Requests(http.MethodPost, "/v1/refunds"))

	refund := []byte(`{"amount": {"amount": 1000, "currency": "EUR"}}`)
	key := map[string]string{"Idempotency-Key": "refund-once"}
	rec = b.do(t, http.MethodPost, path+"/refund", "tok-support", refund, key)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	first := rec.Body.String()
	rec = b.do(t, http.MethodPost, path+"/refund", "tok-support", refund, key)
	require.Equal(t, http.StatusOK, rec.Code)
	require.Equal(t, "true", rec.Header().Get("Idempotent-Replayed"))
	require.Equal(t, first, rec.Body.String())
	refunds := b.mock.Requests(http.MethodPost, "/v1/refunds")
	require.Len(t, refunds, 1)
	require.Equal(t, "refund-"+workers.RefundCommandID(inv.ID, refundScope(t, "tok-support", path+"/refund", "refund-once")), refunds[0].IdempotencyKey)

	rec = b.do(t, http.MethodPost, path+"/refund", "tok-support", nil, nil)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &doc))
	require.Equal(t, "refunded", doc.Status)
	refunds = b.mock.Requests(http.MethodPost, "/v1/refunds")
	require.Len(t, refunds, 2)
	require.Equal(t, "1500", refunds[1].Form.Get("amount"))
}

// TestStripeRoutesWithoutStripe: a server without Payments answers 503
// stripe_not_configured.
func TestStripeRoutesWithoutStripe(t *testing.T) {
	t.Parallel()
	h := (&Server{Tokens: map[string]Role{"tok": RoleAdmin}}).Handler()
	for _, path := range []string{"/v1/webhooks/stripe", "/v1/invoices/inv_1/retry", "/v1/invoices/inv_1/refund"} {
		req := httptest.NewRequest(http.MethodPost, path, nil)
		req.Header.Set("Authorization", "Bearer tok")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusServiceUnavailable, rec.Code, path)
		require.Equal(t, "stripe_not_configured", errorCode(t, rec), path)
	}
}
