package main

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/command"
	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/eventstore/postgres/pgtest"
	"github.com/subsd/subsd/workers"
	"github.com/subsd/subsd/workers/mail/mailtest"
	"github.com/subsd/subsd/workers/stripe/stripetest"
)

// cycle is the full-cycle test's service: `subsd serve` with TEST_CLOCK=1,
// Stripe at a real stripe-mock, SMTP at an in-process SMTP server.
type cycle struct {
	*apiServer
	stripe *stripetest.Mock
	smtp   *mailtest.Server
	// last is the position of the latest write, sent as X-Min-Position
	// with the next advance and read.
	last string
}

func startCycle(t *testing.T) *cycle {
	t.Helper()
	mock := stripetest.Start(t)
	smtp := mailtest.NewServer(t)
	dbURL := pgtest.NewDatabase(t)
	s := startServe(t, map[string]string{
		"DATABASE_URL":          dbURL,
		"API_TOKENS":            "admin:" + adminToken + ",scheduler:" + schedulerToken,
		"RATE_LIMIT_RPS":        "0",
		"TEST_CLOCK":            "1",
		"STRIPE_SECRET_KEY":     stripetest.SecretKey,
		"STRIPE_API_BASE":       mock.URL,
		"STRIPE_WEBHOOK_SECRET": stripetest.WebhookSecret,
		"SMTP_URL":              smtp.URL.String(),
		"MAIL_FROM":             "Koffie <shop@koffie.example>",
		"BUSINESS_NAME":         "Koffie BV",
		"BUSINESS_ADDRESS":      "Damrak 1; 1012 LG; Amsterdam; NL",
	})
	require.Eventually(t, func() bool {
		status, _ := s.get(t, "/readyz")
		return status == http.StatusOK
	}, 60*time.Second, 20*time.Millisecond, "never ready; logs:\n%s", s.logs)
	return &cycle{apiServer: &apiServer{subsd: s, dbURL: dbURL}, stripe: mock, smtp: smtp}
}

// write sends a command and remembers its position.
func (c *cycle) write(t *testing.T, cl call, status int) map[string]any {
	t.Helper()
	r := c.do(t, cl)
	body := r.ok(t, status)
	if p := r.header.Get("X-Event-Position"); p != "" {
		c.last = p
	}
	return body
}

// read GETs path after the latest write.
func (c *cycle) read(t *testing.T, path string) map[string]any {
	t.Helper()
	h := map[string]string{}
	if c.last != "" {
		h["X-Min-Position"] = c.last
	}
	return c.do(t, call{Method: "GET", Path: path, Header: h}).ok(t, http.StatusOK)
}

// advance moves the test clock to at, after the latest write, and waits
// for everything that fell due.
func (c *cycle) advance(t *testing.T, at time.Time) {
	t.Helper()
	h := map[string]string{}
	if c.last != "" {
		h["X-Min-Position"] = c.last
	}
	body := c.write(t, call{Method: "POST", Path: "/v1/test-clock/advance", Header: h,
		Body: map[string]any{"to": at.UTC().Format(time.RFC3339Nano)}}, http.StatusOK)
	require.Equal(t, at.UTC().Format(time.RFC3339Nano), body["now"])
}

// webhook posts a signed Stripe event about the latest payment intent of
// attempt of inv.
func (c *cycle) webhook(t *testing.T, id, typ string, inv domain.InvoiceID, attempt int, sub, cus string, amount int64, decline string) {
	t.Helper()
	doc := c.read(t, "/v1/invoices/"+string(inv))
	pi, _ := doc["stripe_payment_intent_id"].(string)
	require.NotEmpty(t, pi, "the charge job created a payment intent: %v", doc)
	status := "succeeded"
	if decline != "" {
		status = "requires_payment_method"
	}
	obj := stripetest.PaymentIntent(pi, status, amount, "EUR", map[string]string{
		"invoice_id": string(inv), "payment_id": string(workers.PaymentID(inv, attempt)),
		"subscription_id": sub, "customer_id": cus,
	})
	if decline != "" {
		obj = stripetest.WithDecline(obj, "card_declined", decline, "Your card has insufficient funds.")
	}
	payload, sig := stripetest.SignedPayload(t, stripetest.Event(id, typ, obj), stripetest.WebhookSecret, time.Time{})
	c.write(t, call{Method: "POST", Path: "/v1/webhooks/stripe", Body: string(payload),
		Header: map[string]string{"Stripe-Signature": sig}}, http.StatusOK)
}

// mails returns the subjects of the messages the SMTP server received, in
// order.
func (c *cycle) mails(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, m := range c.smtp.Messages(t) {
		out = append(out, m.Subject)
	}
	return out
}

func (c *cycle) intents(t *testing.T) []stripetest.Request {
	t.Helper()
	var out []stripetest.Request
	for _, r := range c.stripe.Requests("POST", "/v1/payment_intents") {
		if r.Status == http.StatusOK {
			out = append(out, r)
		}
	}
	return out
}

func hasPrefixIn(subjects []string, prefix string) int {
	n := 0
	for _, s := range subjects {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

func parseTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, ok := v.(string)
	require.True(t, ok, "a time, got %v", v)
	at, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err)
	return at
}

// TestFullCycle runs one subscription's life through the real binary on
// the test clock, with Stripe (stripe-mock, outcomes by signed webhooks)
// and SMTP (an in-process server) for real: subscribe → the first charge
// settled by a payment_intent.succeeded webhook → active → the charge
// reminder planned, then sent before the next charge → shipments on their
// dates → a charge that fails (payment_intent.payment_failed), its retry a
// day later on schedule, then paid → a refund → cancel at period end → it
// ends then, and nothing more ships or is charged.
func TestFullCycle(t *testing.T) {
	t.Parallel()
	c := startCycle(t)
	amsterdam, err := time.LoadLocation("Europe/Amsterdam")
	require.NoError(t, err)

	// A fixed start, so the dates do not depend on the day the test runs.
	start := time.Date(2031, 1, 10, 9, 0, 0, 0, time.UTC)
	c.advance(t, start)
	clock := c.read(t, "/v1/test-clock")
	require.Equal(t, start.Format(time.RFC3339Nano), clock["now"])
	// The clock never goes back.
	c.do(t, call{Method: "POST", Path: "/v1/test-clock/advance", Body: map[string]any{"to": start.Add(-time.Hour).Format(time.RFC3339)}}).
		fails(t, http.StatusBadRequest, domain.CodeInvalidField, "to")

	cus := c.newCustomer(t, "bea@example.com")
	sub := c.write(t, call{Method: "POST", Path: "/v1/subscriptions", Body: map[string]any{
		"customer_id": cus, "delivery_method": "delivery", "payment_method_id": "pm_card_visa",
		"plan": map[string]any{"name": "Coffee", "price": money(2500), "interval": map[string]any{"unit": "month", "count": 1}},
		"products": []any{map[string]any{"product_id": "beans", "name": "Beans", "quantity": 1,
			"interval": map[string]any{"unit": "week", "count": 2}}},
	}}, http.StatusCreated)
	subID := domain.SubscriptionID(sub["id"].(string))
	require.Equal(t, "pending", sub["status"])
	inv1 := command.ChargeInvoiceID(subID, 1)

	// The payment reactor charged the first invoice: one PaymentIntent,
	// off-session, for the subscription's payment method, with the
	// metadata and the attempt's payment id as its idempotency key.
	// stripe-mock answers requires_payment_method, so it is pending until
	// the webhook settles it.
	c.advance(t, start)
	intents := c.intents(t)
	require.Len(t, intents, 1)
	require.Equal(t, string(workers.PaymentID(inv1, 1)), intents[0].IdempotencyKey)
	require.Equal(t, string(inv1), intents[0].Form.Get("metadata[invoice_id]"))
	require.Equal(t, string(subID), intents[0].Form.Get("metadata[subscription_id]"))
	require.Equal(t, cus, intents[0].Form.Get("metadata[customer_id]"))
	require.Equal(t, "2500", intents[0].Form.Get("amount"))
	require.Equal(t, "pending", c.read(t, "/v1/subscriptions/"+string(subID))["status"])

	c.webhook(t, "evt_first_paid", "payment_intent.succeeded", inv1, 1, string(subID), cus, 2500, "")
	c.advance(t, start)
	detail := c.read(t, "/v1/customers/"+cus)
	require.Equal(t, "active", at(t, detail, "subscriptions.0.status"))
	require.Equal(t, money(2500), at(t, detail, "subscriptions.0.total_paid"))
	next := parseTime(t, at(t, detail, "subscriptions.0.next_charge_at"))
	require.Equal(t, start.AddDate(0, 1, 0), next)
	today := domain.DateIn(start, amsterdam)
	mails := c.mails(t)
	require.Equal(t, 1, hasPrefixIn(mails, "Your Coffee subscription is confirmed"), "%q", mails)
	require.Equal(t, 1, hasPrefixIn(mails, "Payment received for invoice"), "%q", mails)
	require.Equal(t, 1, hasPrefixIn(mails, "Your order ORD-"), "the first shipment, today: %q", mails)
	// The scheduler's endpoint finds today's shipment enqueued already
	// (by the due work the advance ran): nothing new, however often asked.
	for range 2 {
		require.Equal(t, map[string]any{"enqueued": num(0)}, c.do(t, call{Method: "POST", Path: "/v1/scheduler/shipments",
			Token: schedulerToken, Body: map[string]any{"due_by": today.String()}}).ok(t, http.StatusOK))
	}
	// The reminder is in the history as planned, three days before the
	// charge.
	var reminder map[string]any
	for _, e := range at(t, detail, "emails").([]any) {
		if e.(map[string]any)["type"] == "charge_reminder" {
			reminder = e.(map[string]any)
		}
	}
	require.NotNil(t, reminder, "a charge reminder is planned: %v", at(t, detail, "emails"))
	require.Equal(t, "planned", reminder["status"])
	require.Equal(t, next.AddDate(0, 0, -3), parseTime(t, reminder["planned_at"]))

	// Up to a minute before the next charge: the shipments of days 14 and
	// 28 and the reminder went out, the charge not yet.
	c.advance(t, next.Add(-time.Minute))
	mails = c.mails(t)
	require.Equal(t, 1, hasPrefixIn(mails, "Your next payment of"), "%q", mails)
	require.Len(t, c.intents(t), 1)
	orders := c.read(t, "/v1/customers/"+cus)["orders"].([]any)
	require.Len(t, orders, 3, "shipments on days 0, 14 and 28")

	// The second charge is due: charged, and this time the card is
	// declined (payment_intent.payment_failed): the invoice is failed, a
	// payment_failed email goes out and a retry is planned a day later.
	c.advance(t, next)
	intents = c.intents(t)
	require.Len(t, intents, 2)
	inv2 := command.ChargeInvoiceID(subID, 2)
	require.Equal(t, string(workers.PaymentID(inv2, 1)), intents[1].IdempotencyKey)
	c.webhook(t, "evt_second_failed", "payment_intent.payment_failed", inv2, 1, string(subID), cus, 2500, "insufficient_funds")
	// The same webhook again (Stripe redelivers) changes nothing.
	c.webhook(t, "evt_second_failed", "payment_intent.payment_failed", inv2, 1, string(subID), cus, 2500, "insufficient_funds")
	c.advance(t, next)
	doc := c.read(t, "/v1/invoices/"+string(inv2))
	require.Equal(t, "failed", doc["status"])
	require.Equal(t, true, doc["retry_pending"])
	retryAt := parseTime(t, doc["next_retry_at"])
	require.Equal(t, next.AddDate(0, 0, 1), retryAt)
	require.Equal(t, 1, hasPrefixIn(c.mails(t), "Your payment of"), "payment_failed: %q", c.mails(t))

	// Nothing happens before the retry's time; at it, attempt 2 is
	// charged (its own payment id, so its own idempotency key), and the
	// webhook settles it: paid.
	c.advance(t, retryAt.Add(-time.Minute))
	require.Len(t, c.intents(t), 2)
	c.advance(t, retryAt)
	intents = c.intents(t)
	require.Len(t, intents, 3)
	require.Equal(t, string(workers.PaymentID(inv2, 2)), intents[2].IdempotencyKey)
	c.webhook(t, "evt_second_paid", "payment_intent.succeeded", inv2, 2, string(subID), cus, 2500, "")
	c.advance(t, retryAt)
	doc = c.read(t, "/v1/invoices/"+string(inv2))
	require.Equal(t, "paid", doc["status"])
	require.Equal(t, money(5000), at(t, c.read(t, "/v1/customers/"+cus), "subscriptions.0.total_paid"))

	// A partial refund through Stripe.
	c.write(t, call{Method: "POST", Path: "/v1/invoices/" + string(inv2) + "/refund", Body: map[string]any{"amount": money(1000)},
		Header: map[string]string{"Idempotency-Key": "refund-1"}}, http.StatusOK)
	require.Len(t, c.stripe.Requests("POST", "/v1/refunds"), 1)
	c.advance(t, retryAt)
	detail = c.read(t, "/v1/customers/"+cus)
	require.Equal(t, money(4000), at(t, detail, "subscriptions.0.total_paid"))
	require.Equal(t, 1, hasPrefixIn(c.mails(t), "We refunded"), "%q", c.mails(t))

	// Cancel at the end of the period: canceling until then, canceled at
	// it, and nothing more is charged or shipped.
	canceled := c.write(t, call{Method: "POST", Path: "/v1/subscriptions/" + string(subID) + "/cancel",
		Body: map[string]any{"at_period_end": true}}, http.StatusOK)
	require.Equal(t, "canceling", canceled["status"])
	detail = c.read(t, "/v1/customers/"+cus)
	endsAt := parseTime(t, at(t, detail, "subscriptions.0.ends_at"))
	require.Equal(t, next.AddDate(0, 1, 0), endsAt)
	ordersBefore := len(detail["orders"].([]any))
	intentsBefore := len(c.intents(t))
	c.advance(t, endsAt.AddDate(0, 3, 0))
	detail = c.read(t, "/v1/customers/"+cus)
	require.Equal(t, "canceled", at(t, detail, "subscriptions.0.status"))
	require.Equal(t, endsAt, parseTime(t, at(t, detail, "subscriptions.0.canceled_at")))
	require.Len(t, detail["orders"].([]any), ordersBefore, "nothing ships once canceling")
	require.Len(t, c.intents(t), intentsBefore, "nothing is charged once canceling")
	mails = c.mails(t)
	require.Equal(t, 1, hasPrefixIn(mails, "Your subscription has been canceled"), "%q", mails)
	require.Equal(t, 1, hasPrefixIn(mails, "Your next payment of"), "one reminder: the third charge never came: %q", mails)

	// Every email went out once, each with its own Message-ID.
	ids := map[string]bool{}
	for _, m := range c.smtp.Messages(t) {
		require.False(t, ids[m.MessageID], "message %s sent twice", m.MessageID)
		ids[m.MessageID] = true
		require.Equal(t, []string{"bea@example.com"}, m.To)
	}
	// The shipments were on their dates, days 0, 14 and 28; day 42 came
	// after the cancellation was asked for.
	var shipped []string
	for _, o := range detail["orders"].([]any) {
		id := o.(map[string]any)["id"].(string)
		page := c.read(t, "/v1/orders/"+url.PathEscape(id))
		shipped = append(shipped, at(t, page, "items.0.product_id").(string)+"@"+page["shipped_on"].(string))
	}
	slices.Sort(shipped)
	require.Equal(t, []string{
		"beans@" + today.String(), "beans@" + today.AddDays(14).String(), "beans@" + today.AddDays(28).String(),
	}, shipped)
}
