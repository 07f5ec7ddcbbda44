package invoice_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/invoice"
)

// A given-events / when-command / then-events-or-error case.
type tc struct {
	name  string
	given []invoice.Event
	when  invoice.Command
	then  []invoice.Event
	err   error
	field string // for err: the field the *domain.Error must name
}

// run decides every case on the fold of its history; decided events are
// also folded and sent through the codec.
func run(t *testing.T, cases []tc) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := invoice.Decide(invoice.Fold(c.given...), c.when)
			if c.err != nil {
				require.ErrorIs(t, err, c.err)
				require.Nil(t, got)
				if c.field != "" {
					var de *domain.Error
					require.True(t, errors.As(err, &de), "%v is a *domain.Error", err)
					require.Equal(t, c.field, de.Field)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.then, got)
			for _, e := range got {
				name, data, err := invoice.Codec.Encode(e)
				require.NoError(t, err)
				back, err := invoice.Codec.Decode(name, data)
				require.NoError(t, err)
				require.Equal(t, e, back)
			}
			_ = invoice.Fold(append(c.given, got...)...)
		})
	}
}

var (
	t0    = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)
	f1    = t0.Add(5 * time.Minute) // the first failure: the retry schedule's anchor
	due   = domain.Date{Year: 2026, Month: time.November, Day: 21}
	nl    = domain.Address{Street: "Damrak 1", Zipcode: "1012 LG", City: "Amsterdam", Country: "NL"}
	de    = domain.Address{Street: "Unter den Linden 1", Zipcode: "10117", City: "Berlin", Country: "DE"}
	us    = domain.Address{Street: "1 Main St", Zipcode: "10001", City: "New York", Country: "US"}
	rates = domain.DefaultVATRates()
	price = domain.Cents(2995)
)

const (
	iid  domain.InvoiceID      = "inv_1"
	num  domain.InvoiceNumber  = "INV-2026-000042"
	cid  domain.CustomerID     = "cus_1"
	sid  domain.SubscriptionID = "sub_1"
	oid  domain.OrderID        = "ord_1"
	name                       = "Ann de Vries"
)

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

func pay(n int) domain.PaymentID { return domain.PaymentID(fmt.Sprintf("pay_1_%d", n)) }
func pi(n int) string            { return fmt.Sprintf("pi_%d", n) }

// charge is the third cycle of a 29.95 plan billed in the Netherlands.
func charge() invoice.Create {
	return invoice.Create{
		InvoiceID: iid, Number: num, CustomerID: cid, CustomerName: name, SubscriptionID: sid, Cycle: 3,
		Lines:          []domain.Line{{Name: "Coffee plan", Quantity: 1, UnitPrice: price}},
		BillingAddress: nl, VATRates: rates, DueOn: due, At: t0,
	}
}

// created is what charge() decides: 29.95 holds 29.95 × 21/121 = 5.198 → 5.20.
func created() invoice.Created {
	return invoice.Created{
		InvoiceID: iid, Number: num, CustomerID: cid, CustomerName: name, SubscriptionID: sid, Cycle: 3,
		Lines: []domain.PricedLine{{Name: "Coffee plan", Quantity: 1, UnitPrice: price, Total: price,
			Discount: domain.Cents(0), Net: price, VAT: domain.Cents(520)}},
		Subtotal: price, Discount: domain.Cents(0), Amount: price, VATRate: 2100, VAT: domain.Cents(520),
		BillingAddress: nl, DueOn: due, CreatedAt: t0,
	}
}

func with(c invoice.Create, f func(*invoice.Create)) invoice.Create {
	f(&c)
	return c
}

func started(n int, at time.Time) invoice.AttemptStarted {
	return invoice.AttemptStarted{InvoiceID: iid, CustomerID: cid, SubscriptionID: sid, PaymentID: pay(n), Attempt: n, Amount: price, StartedAt: at}
}

func processing(n int, at time.Time) invoice.AttemptProcessing {
	return invoice.AttemptProcessing{InvoiceID: iid, CustomerID: cid, PaymentID: pay(n), Attempt: n, PaymentIntentID: pi(n), ProcessingAt: at}
}

func failed(n int, code string, hard bool, at time.Time) invoice.AttemptFailed {
	return invoice.AttemptFailed{InvoiceID: iid, CustomerID: cid, SubscriptionID: sid, PaymentID: pay(n), Attempt: n, PaymentIntentID: pi(n), DeclineCode: code, Hard: hard, FailedAt: at}
}

func scheduled(retry int, at, now time.Time) invoice.RetryScheduled {
	return invoice.RetryScheduled{InvoiceID: iid, CustomerID: cid, SubscriptionID: sid, Retry: retry, Attempt: retry + 1, RetryAt: at, ScheduledAt: now}
}

func exhausted(attempts int, code string, reason invoice.ExhaustedReason, at time.Time) invoice.RetriesExhausted {
	return invoice.RetriesExhausted{InvoiceID: iid, Number: num, CustomerID: cid, SubscriptionID: sid, Cycle: 3, Amount: price,
		Attempts: attempts, LastDeclineCode: code, Reason: reason, ExhaustedAt: at}
}

func succeeded(n int, paidTotal int64, at time.Time) invoice.AttemptSucceeded {
	return invoice.AttemptSucceeded{InvoiceID: iid, CustomerID: cid, SubscriptionID: sid, PaymentID: pay(n), Attempt: n,
		PaymentIntentID: pi(n), Amount: price, PaidTotal: domain.Cents(paidTotal), SucceededAt: at}
}

func paid(n int, at time.Time) invoice.Paid {
	return invoice.Paid{InvoiceID: iid, Number: num, CustomerID: cid, SubscriptionID: sid, Cycle: 3,
		PaymentID: pay(n), PaymentIntentID: pi(n), Amount: price, PaidAt: at}
}

func refunded(id string, amount, total int64, full bool, at time.Time) invoice.Refunded {
	return invoice.Refunded{InvoiceID: iid, CustomerID: cid, SubscriptionID: sid, RefundID: id,
		Amount: domain.Cents(amount), RefundedTotal: domain.Cents(total), Full: full, RefundedAt: at}
}

func voided(at time.Time) invoice.Voided {
	return invoice.Voided{InvoiceID: iid, CustomerID: cid, SubscriptionID: sid, VoidedAt: at}
}

// retryAt is when retry n of the default schedule is due: 1, 3, 5 and 7
// days after the first failure f1.
func retryAt(n int) time.Time { return f1.Add(days([]int{1, 3, 5, 7}[n-1])) }

// dunning is the history of k soft-failed attempts under the default
// schedule: attempt 1 at t0 failing at f1, attempt i+1 at retry i's time,
// each failing five minutes after it started.
func dunning(k int) []invoice.Event {
	h := []invoice.Event{created()}
	start := t0
	for i := 1; i <= k; i++ {
		fail := start.Add(5 * time.Minute)
		h = append(h, started(i, start), failed(i, "insufficient_funds", false, fail))
		if i <= 4 {
			h = append(h, scheduled(i, retryAt(i), fail))
			start = retryAt(i)
		} else if i == 5 {
			h = append(h, exhausted(5, "insufficient_funds", invoice.ExhaustedSchedule, fail))
		}
	}
	return h
}

func hist(events ...invoice.Event) []invoice.Event { return events }

func paidHistory() []invoice.Event {
	return hist(created(), started(1, t0), succeeded(1, 2995, t0.Add(time.Second)), paid(1, t0.Add(time.Second)))
}

func TestCreate(t *testing.T) {
	t.Parallel()
	orderLines := []domain.Line{
		{ProductID: "beans", Name: "Coffee beans", Quantity: 2, UnitPrice: domain.Cents(1210)},
		{ProductID: "descaler", Name: "Descaler", Quantity: 1, UnitPrice: domain.Cents(999)},
	}
	run(t, []tc{
		{name: "a subscription cycle's charge", when: charge(), then: []invoice.Event{created()}},
		{
			name: "an order's invoice is priced like the order: same discount spread, same VAT per line",
			when: invoice.Create{
				InvoiceID: iid, Number: num, CustomerID: cid, CustomerName: " Ann de Vries ", SubscriptionID: sid, OrderID: oid,
				Lines: orderLines, Discount: domain.Cents(500), BillingAddress: nl, VATRates: rates, DueOn: due, At: t0,
			},
			then: []invoice.Event{invoice.Created{
				InvoiceID: iid, Number: num, CustomerID: cid, CustomerName: name, SubscriptionID: sid, OrderID: oid,
				Lines: []domain.PricedLine{
					{ProductID: "beans", Name: "Coffee beans", Quantity: 2, UnitPrice: domain.Cents(1210), Total: domain.Cents(2420), Discount: domain.Cents(354), Net: domain.Cents(2066), VAT: domain.Cents(359)},
					{ProductID: "descaler", Name: "Descaler", Quantity: 1, UnitPrice: domain.Cents(999), Total: domain.Cents(999), Discount: domain.Cents(146), Net: domain.Cents(853), VAT: domain.Cents(148)},
				},
				Subtotal: domain.Cents(3419), Discount: domain.Cents(500), Amount: domain.Cents(2919), VATRate: 2100, VAT: domain.Cents(507),
				BillingAddress: nl, DueOn: due, CreatedAt: t0,
			}},
		},
		{
			name: "VAT at the shipping country's rate: DE 19% of 29.95 = 4.782 → 4.78",
			when: with(charge(), func(c *invoice.Create) { c.ShippingAddress = &de }),
			then: []invoice.Event{func() invoice.Created {
				e := created()
				e.ShippingAddress = &de
				e.VATRate, e.VAT = 1900, domain.Cents(478)
				e.Lines[0].VAT = domain.Cents(478)
				return e
			}()},
		},
		{name: "creating it again is a no-op", given: hist(created()), when: charge()},
		{name: "another invoice under the same id", given: hist(created()), when: with(charge(), func(c *invoice.Create) { c.Number = "INV-2026-000043" }), err: invoice.ErrInvoiceExists},

		{name: "a country without a VAT rate", when: with(charge(), func(c *invoice.Create) { c.BillingAddress = us }), err: domain.ErrNoVATRate, field: "billing_address.country"},
		{name: "nothing to charge", when: with(charge(), func(c *invoice.Create) { c.Discount = price }), err: domain.ErrInvalid, field: "lines"},
		{name: "no lines", when: with(charge(), func(c *invoice.Create) { c.Lines = nil }), err: domain.ErrInvalid, field: "lines"},
		{name: "a bad line", when: with(charge(), func(c *invoice.Create) { c.Lines[0].Quantity = 0 }), err: domain.ErrInvalid, field: "lines[0].quantity"},
		{name: "bad invoice id", when: with(charge(), func(c *invoice.Create) { c.InvoiceID = "in_1" }), err: domain.ErrInvalid, field: "invoice_id"},
		{name: "bad number", when: with(charge(), func(c *invoice.Create) { c.Number = "INV-000042" }), err: domain.ErrInvalid, field: "number"},
		{name: "bad customer", when: with(charge(), func(c *invoice.Create) { c.CustomerID = "sub_1" }), err: domain.ErrInvalid, field: "customer_id"},
		{name: "no customer name", when: with(charge(), func(c *invoice.Create) { c.CustomerName = " " }), err: domain.ErrInvalid, field: "customer_name"},
		{name: "neither a subscription nor an order", when: with(charge(), func(c *invoice.Create) { c.SubscriptionID = "" }), err: domain.ErrInvalid, field: "subscription_id"},
		{name: "a subscription charge without its cycle", when: with(charge(), func(c *invoice.Create) { c.Cycle = 0 }), err: domain.ErrInvalid, field: "cycle"},
		{name: "an order's invoice with a cycle", when: with(charge(), func(c *invoice.Create) { c.OrderID = oid }), err: domain.ErrInvalid, field: "cycle"},
		{name: "bad order id", when: with(charge(), func(c *invoice.Create) { c.OrderID = "order-1"; c.Cycle = 0 }), err: domain.ErrInvalid, field: "order_id"},
		{name: "bad subscription id", when: with(charge(), func(c *invoice.Create) { c.SubscriptionID = "sub_!" }), err: domain.ErrInvalid, field: "subscription_id"},
		{name: "bad billing address", when: with(charge(), func(c *invoice.Create) { c.BillingAddress.Zipcode = "" }), err: domain.ErrInvalid, field: "billing_address.zipcode"},
		{name: "bad shipping address", when: with(charge(), func(c *invoice.Create) { c.ShippingAddress = &domain.Address{} }), err: domain.ErrInvalid, field: "shipping_address.street"},
		{name: "no due date", when: with(charge(), func(c *invoice.Create) { c.DueOn = domain.Date{} }), err: domain.ErrInvalid, field: "due_on"},
		{name: "no time", when: with(charge(), func(c *invoice.Create) { c.At = time.Time{} }), err: domain.ErrInvalid, field: "at"},
	})
}

func TestStartAttempt(t *testing.T) {
	t.Parallel()
	hardDeclined := hist(created(), started(1, t0), failed(1, "stolen_card", true, f1), exhausted(1, "stolen_card", invoice.ExhaustedHardDecline, f1))
	run(t, []tc{
		{name: "the first charge", given: hist(created()), when: invoice.StartAttempt{PaymentID: pay(1), Attempt: 1, At: t0}, then: []invoice.Event{started(1, t0)}},
		{name: "a retried start is a no-op", given: hist(created(), started(1, t0)), when: invoice.StartAttempt{PaymentID: pay(1), Attempt: 1, At: t0.Add(time.Minute)}},
		{name: "a retried start after the outcome is still a no-op", given: paidHistory(), when: invoice.StartAttempt{PaymentID: pay(1), Attempt: 1, At: t0}},
		{name: "a scheduled retry", given: dunning(1), when: invoice.StartAttempt{PaymentID: pay(2), Attempt: 2, At: retryAt(1)}, then: []invoice.Event{started(2, retryAt(1))}},
		{name: "a manual retry before the scheduled one", given: dunning(1), when: invoice.StartAttempt{PaymentID: pay(2), Attempt: 2, At: f1.Add(time.Hour)}, then: []invoice.Event{started(2, f1.Add(time.Hour))}},
		{name: "a manual retry after a hard decline (the customer fixed the card)", given: hardDeclined, when: invoice.StartAttempt{PaymentID: pay(2), Attempt: 2, At: t0.Add(days(2))}, then: []invoice.Event{started(2, t0.Add(days(2)))}},
		{name: "a manual retry after the retries are exhausted", given: dunning(5), when: invoice.StartAttempt{PaymentID: pay(6), Attempt: 6, At: f1.Add(days(9))}, then: []invoice.Event{started(6, f1.Add(days(9)))}},
		{name: "the scheduled job after a manual retry took its attempt", given: append(dunning(1), started(2, f1.Add(time.Hour))), when: invoice.StartAttempt{PaymentID: "pay_other", Attempt: 2, At: retryAt(1)}, err: invoice.ErrAttemptExists},
		{name: "a payment id used by another attempt", given: dunning(1), when: invoice.StartAttempt{PaymentID: pay(1), Attempt: 2, At: retryAt(1)}, err: invoice.ErrAttemptExists},
		{name: "while the last attempt is pending", given: hist(created(), started(1, t0)), when: invoice.StartAttempt{PaymentID: pay(2), Attempt: 2, At: t0.Add(time.Hour)}, err: invoice.ErrAttemptPending},
		{name: "while a SEPA debit is processing", given: hist(created(), started(1, t0), processing(1, t0)), when: invoice.StartAttempt{PaymentID: pay(2), Attempt: 2, At: t0.Add(days(1))}, err: invoice.ErrAttemptPending},
		{name: "skipping a number", given: dunning(1), when: invoice.StartAttempt{PaymentID: pay(3), Attempt: 3, At: retryAt(1)}, err: invoice.ErrAttemptOutOfSequence},
		{name: "the first attempt must be 1", given: hist(created()), when: invoice.StartAttempt{PaymentID: pay(2), Attempt: 2, At: t0}, err: invoice.ErrAttemptOutOfSequence},
		{name: "a paid invoice", given: paidHistory(), when: invoice.StartAttempt{PaymentID: pay(2), Attempt: 2, At: t0.Add(days(1))}, err: invoice.ErrInvoicePaid},
		{name: "a refunded invoice", given: append(paidHistory(), refunded("re_1", 2995, 2995, true, t0.Add(days(1)))), when: invoice.StartAttempt{PaymentID: pay(2), Attempt: 2, At: t0.Add(days(2))}, err: invoice.ErrInvoicePaid},
		{name: "a void invoice", given: append(dunning(1), voided(f1.Add(time.Hour))), when: invoice.StartAttempt{PaymentID: pay(2), Attempt: 2, At: retryAt(1)}, err: invoice.ErrInvoiceVoid},
		{name: "no invoice", when: invoice.StartAttempt{PaymentID: pay(1), Attempt: 1, At: t0}, err: invoice.ErrInvoiceNotFound},
		{name: "attempt 0", given: hist(created()), when: invoice.StartAttempt{PaymentID: pay(1), Attempt: 0, At: t0}, err: domain.ErrInvalid, field: "attempt"},
		{name: "bad payment id", given: hist(created()), when: invoice.StartAttempt{PaymentID: "pi_1", Attempt: 1, At: t0}, err: domain.ErrInvalid, field: "payment_id"},
		{name: "no time", given: hist(created()), when: invoice.StartAttempt{PaymentID: pay(1), Attempt: 1}, err: domain.ErrInvalid, field: "at"},
	})
}

func TestRecordAttemptProcessing(t *testing.T) {
	t.Parallel()
	when := invoice.RecordAttemptProcessing{PaymentID: pay(1), PaymentIntentID: pi(1), At: t0}
	run(t, []tc{
		{name: "a SEPA debit on its way", given: hist(created(), started(1, t0)), when: when, then: []invoice.Event{processing(1, t0)}},
		{name: "a repeat is a no-op", given: hist(created(), started(1, t0), processing(1, t0)), when: when},
		{name: "news older than the outcome is a no-op", given: paidHistory(), when: when},
		{name: "another intent than the attempt's", given: hist(created(), started(1, t0), processing(1, t0)), when: invoice.RecordAttemptProcessing{PaymentID: pay(1), PaymentIntentID: "pi_other", At: t0}, err: invoice.ErrPaymentIntentMismatch},
		{name: "an unknown attempt", given: hist(created(), started(1, t0)), when: invoice.RecordAttemptProcessing{PaymentID: pay(9), PaymentIntentID: pi(9), At: t0}, err: invoice.ErrAttemptNotFound},
		{name: "no intent", given: hist(created(), started(1, t0)), when: invoice.RecordAttemptProcessing{PaymentID: pay(1), At: t0}, err: domain.ErrInvalid, field: "payment_intent_id"},
		{name: "no invoice", when: when, err: invoice.ErrInvoiceNotFound},
	})
}

func TestRecordAttemptSucceeded(t *testing.T) {
	t.Parallel()
	ok := func(n int, at time.Time) invoice.RecordAttemptSucceeded {
		return invoice.RecordAttemptSucceeded{PaymentID: pay(n), PaymentIntentID: pi(n), At: at}
	}
	t1 := t0.Add(time.Second)
	late := func(e invoice.AttemptSucceeded) invoice.AttemptSucceeded { e.AfterFailure = true; return e }
	run(t, []tc{
		{name: "a synchronous success pays the invoice", given: hist(created(), started(1, t0)), when: ok(1, t1),
			then: []invoice.Event{succeeded(1, 2995, t1), paid(1, t1)}},
		{name: "a SEPA debit settles days later", given: hist(created(), started(1, t0), processing(1, t0)), when: ok(1, t0.Add(days(4))),
			then: []invoice.Event{succeeded(1, 2995, t0.Add(days(4))), paid(1, t0.Add(days(4)))}},
		{name: "a scheduled retry succeeds", given: append(dunning(2), started(3, retryAt(2))), when: ok(3, retryAt(2).Add(time.Second)),
			then: []invoice.Event{succeeded(3, 2995, retryAt(2).Add(time.Second)), paid(3, retryAt(2).Add(time.Second))}},
		{name: "a duplicate webhook is a no-op", given: paidHistory(), when: ok(1, t0.Add(time.Hour))},
		{name: "a success after the failure of the same attempt wins and drops the pending retry", given: dunning(1), when: ok(1, f1.Add(days(2)) /* after retry 1 was due but before it ran */),
			then: []invoice.Event{late(succeeded(1, 2995, f1.Add(days(2)))), paid(1, f1.Add(days(2)))}},
		{name: "a success after the retries were exhausted still pays", given: dunning(5), when: ok(5, f1.Add(days(8))),
			then: []invoice.Event{late(succeeded(5, 2995, f1.Add(days(8)))), paid(5, f1.Add(days(8)))}},
		{
			name:  "a late success when another attempt already paid is recorded as a duplicate, without a second Paid",
			given: append(dunning(1), started(2, retryAt(1)), succeeded(2, 2995, retryAt(1)), paid(2, retryAt(1))),
			when:  ok(1, retryAt(1).Add(time.Hour)),
			then: []invoice.Event{func() invoice.AttemptSucceeded {
				e := late(succeeded(1, 5990, retryAt(1).Add(time.Hour)))
				e.Duplicate = true
				return e
			}()},
		},
		{name: "a late success on a voided invoice: the money was collected, so it is paid", given: append(dunning(1), voided(f1.Add(time.Hour))), when: ok(1, f1.Add(days(1))),
			then: []invoice.Event{late(succeeded(1, 2995, f1.Add(days(1)))), paid(1, f1.Add(days(1)))}},
		{name: "another intent than the attempt's", given: hist(created(), started(1, t0), processing(1, t0)), when: invoice.RecordAttemptSucceeded{PaymentID: pay(1), PaymentIntentID: "pi_2", At: t1}, err: invoice.ErrPaymentIntentMismatch},
		{name: "an unknown attempt", given: hist(created(), started(1, t0)), when: ok(2, t1), err: invoice.ErrAttemptNotFound},
		{name: "no attempt yet", given: hist(created()), when: ok(1, t1), err: invoice.ErrAttemptNotFound},
		{name: "no intent", given: hist(created(), started(1, t0)), when: invoice.RecordAttemptSucceeded{PaymentID: pay(1), At: t1}, err: domain.ErrInvalid, field: "payment_intent_id"},
		{name: "a malformed intent", given: hist(created(), started(1, t0)), when: invoice.RecordAttemptSucceeded{PaymentID: pay(1), PaymentIntentID: "ch_1", At: t1}, err: domain.ErrInvalid, field: "payment_intent_id"},
		{name: "no invoice", when: ok(1, t1), err: invoice.ErrInvoiceNotFound},
	})
}

func TestRecordAttemptFailed(t *testing.T) {
	t.Parallel()
	fail := func(n int, code string, at time.Time) invoice.RecordAttemptFailed {
		return invoice.RecordAttemptFailed{PaymentID: pay(n), PaymentIntentID: pi(n), DeclineCode: code, At: at}
	}
	// failAt is when attempt n+1 (retry n) fails in dunning(k): five minutes
	// after it started.
	failAt := func(retry int) time.Time { return retryAt(retry).Add(5 * time.Minute) }
	ams, err := time.LoadLocation("Europe/Amsterdam")
	require.NoError(t, err)
	run(t, []tc{
		// The default schedule, offsets from the first failure.
		{name: "first soft failure: retry 1 a day later", given: hist(created(), started(1, t0)), when: fail(1, "insufficient_funds", f1),
			then: []invoice.Event{failed(1, "insufficient_funds", false, f1), scheduled(1, f1.Add(days(1)), f1)}},
		{name: "retry 1 fails: retry 2 three days after the FIRST failure", given: append(dunning(1), started(2, retryAt(1))), when: fail(2, "insufficient_funds", failAt(1)),
			then: []invoice.Event{failed(2, "insufficient_funds", false, failAt(1)), scheduled(2, f1.Add(days(3)), failAt(1))}},
		{name: "retry 2 fails: retry 3 at +5 days", given: append(dunning(2), started(3, retryAt(2))), when: fail(3, "insufficient_funds", failAt(2)),
			then: []invoice.Event{failed(3, "insufficient_funds", false, failAt(2)), scheduled(3, f1.Add(days(5)), failAt(2))}},
		{name: "retry 3 fails: retry 4 at +7 days", given: append(dunning(3), started(4, retryAt(3))), when: fail(4, "insufficient_funds", failAt(3)),
			then: []invoice.Event{failed(4, "insufficient_funds", false, failAt(3)), scheduled(4, f1.Add(days(7)), failAt(3))}},
		{name: "the last retry fails: retries exhausted, for the subscription to go past_due", given: append(dunning(4), started(5, retryAt(4))), when: fail(5, "insufficient_funds", failAt(4)),
			then: []invoice.Event{failed(5, "insufficient_funds", false, failAt(4)), exhausted(5, "insufficient_funds", invoice.ExhaustedSchedule, failAt(4))}},
		{name: "a manual retry after exhaustion fails: exhausted only once", given: append(dunning(5), started(6, f1.Add(days(9)))), when: fail(6, "insufficient_funds", f1.Add(days(9))),
			then: []invoice.Event{failed(6, "insufficient_funds", false, f1.Add(days(9)))}},
		{name: "a manual retry uses up a slot: it fails, the next retry is retry 2 at +3 days",
			given: append(dunning(1), started(2, f1.Add(time.Hour))), when: fail(2, "insufficient_funds", f1.Add(2*time.Hour)),
			then: []invoice.Event{failed(2, "insufficient_funds", false, f1.Add(2*time.Hour)), scheduled(2, f1.Add(days(3)), f1.Add(2*time.Hour))}},
		{name: "a failure reported after its successor's time: the retry is due a first offset (1 day) after it, not at once",
			given: append(dunning(1), started(2, retryAt(1))), when: fail(2, "insufficient_funds", f1.Add(days(4))),
			then: []invoice.Event{failed(2, "insufficient_funds", false, f1.Add(days(4))), scheduled(2, f1.Add(days(5)), f1.Add(days(4)))}},
		{name: "a manual retry long after a hard decline soft-fails: passed slots do not fire as a burst",
			given: hist(created(), started(1, t0), failed(1, "expired_card", true, f1), exhausted(1, "expired_card", invoice.ExhaustedHardDecline, f1), started(2, f1.Add(days(10)))),
			when:  fail(2, "insufficient_funds", f1.Add(days(10))),
			then:  []invoice.Event{failed(2, "insufficient_funds", false, f1.Add(days(10))), scheduled(2, f1.Add(days(11)), f1.Add(days(10)))}},
		{name: "a configured schedule keeps its own first gap for passed slots",
			given: append(dunning(1), started(2, retryAt(1))),
			when:  invoice.RecordAttemptFailed{PaymentID: pay(2), PaymentIntentID: pi(2), DeclineCode: "insufficient_funds", RetrySchedule: invoice.RetrySchedule{2, 3}, At: f1.Add(days(4))},
			then:  []invoice.Event{failed(2, "insufficient_funds", false, f1.Add(days(4))), scheduled(2, f1.Add(days(6)), f1.Add(days(4)))}},

		// Hard declines.
		{name: "a hard decline: no retry, retries exhausted at once", given: hist(created(), started(1, t0)), when: fail(1, "stolen_card", f1),
			then: []invoice.Event{failed(1, "stolen_card", true, f1), exhausted(1, "stolen_card", invoice.ExhaustedHardDecline, f1)}},
		{name: "a hard decline on a retry", given: append(dunning(2), started(3, retryAt(2))), when: fail(3, "expired_card", failAt(2)),
			then: []invoice.Event{failed(3, "expired_card", true, failAt(2)), exhausted(3, "expired_card", invoice.ExhaustedHardDecline, failAt(2))}},
		{name: "a SEPA mandate revoked is hard", given: hist(created(), started(1, t0), processing(1, t0)), when: fail(1, "debit_not_authorized", f1),
			then: []invoice.Event{failed(1, "debit_not_authorized", true, f1), exhausted(1, "debit_not_authorized", invoice.ExhaustedHardDecline, f1)}},
		{name: "do_not_honor is soft", given: hist(created(), started(1, t0)), when: fail(1, "do_not_honor", f1),
			then: []invoice.Event{failed(1, "do_not_honor", false, f1), scheduled(1, f1.Add(days(1)), f1)}},
		{name: "an unknown or missing code is soft", given: hist(created(), started(1, t0)), when: invoice.RecordAttemptFailed{PaymentID: pay(1), At: f1},
			then: []invoice.Event{invoice.AttemptFailed{InvoiceID: iid, CustomerID: cid, SubscriptionID: sid, PaymentID: pay(1), Attempt: 1, FailedAt: f1}, scheduled(1, f1.Add(days(1)), f1)}},
		{name: "after a hard decline and a manual retry, a soft failure resumes the schedule",
			given: hist(created(), started(1, t0), failed(1, "expired_card", true, f1), exhausted(1, "expired_card", invoice.ExhaustedHardDecline, f1), started(2, f1.Add(days(1)))),
			when:  fail(2, "insufficient_funds", f1.Add(days(1))),
			then:  []invoice.Event{failed(2, "insufficient_funds", false, f1.Add(days(1))), scheduled(2, f1.Add(days(3)), f1.Add(days(1)))}},

		// Configured schedules.
		{name: "a configured schedule", given: hist(created(), started(1, t0)),
			when: invoice.RecordAttemptFailed{PaymentID: pay(1), PaymentIntentID: pi(1), DeclineCode: "insufficient_funds", RetrySchedule: invoice.RetrySchedule{2, 10}, At: f1},
			then: []invoice.Event{failed(1, "insufficient_funds", false, f1), scheduled(1, f1.Add(days(2)), f1)}},
		{name: "a configured schedule runs out sooner",
			given: hist(created(), started(1, t0), failed(1, "insufficient_funds", false, f1), scheduled(1, f1.Add(days(2)), f1), started(2, f1.Add(days(2)))),
			when:  invoice.RecordAttemptFailed{PaymentID: pay(2), PaymentIntentID: pi(2), DeclineCode: "insufficient_funds", RetrySchedule: invoice.RetrySchedule{2}, At: f1.Add(days(2))},
			then:  []invoice.Event{failed(2, "insufficient_funds", false, f1.Add(days(2))), exhausted(2, "insufficient_funds", invoice.ExhaustedSchedule, f1.Add(days(2)))}},
		{name: "an empty schedule: no automatic retries", given: hist(created(), started(1, t0)),
			when: invoice.RecordAttemptFailed{PaymentID: pay(1), PaymentIntentID: pi(1), DeclineCode: "insufficient_funds", RetrySchedule: invoice.RetrySchedule{}, At: f1},
			then: []invoice.Event{failed(1, "insufficient_funds", false, f1), exhausted(1, "insufficient_funds", invoice.ExhaustedSchedule, f1)}},
		{name: "days on the business wall clock: 09:00 CET + 1 day is 09:00 CEST across the spring change",
			given: hist(created(), started(1, t0)),
			when: invoice.RecordAttemptFailed{PaymentID: pay(1), PaymentIntentID: pi(1), DeclineCode: "insufficient_funds", Location: ams,
				At: time.Date(2026, 3, 28, 9, 0, 0, 0, ams)},
			then: []invoice.Event{
				failed(1, "insufficient_funds", false, time.Date(2026, 3, 28, 8, 0, 0, 0, time.UTC)),
				scheduled(1, time.Date(2026, 3, 29, 7, 0, 0, 0, time.UTC), time.Date(2026, 3, 28, 8, 0, 0, 0, time.UTC)),
			}},
		{name: "a schedule that does not increase", given: hist(created(), started(1, t0)),
			when: invoice.RecordAttemptFailed{PaymentID: pay(1), RetrySchedule: invoice.RetrySchedule{3, 1}, At: f1}, err: domain.ErrInvalid, field: "retry_schedule[1]"},
		{name: "a schedule with day 0", given: hist(created(), started(1, t0)),
			when: invoice.RecordAttemptFailed{PaymentID: pay(1), RetrySchedule: invoice.RetrySchedule{0}, At: f1}, err: domain.ErrInvalid, field: "retry_schedule[0]"},

		// Duplicates and order.
		{name: "a duplicate failure is a no-op", given: dunning(1), when: fail(1, "insufficient_funds", f1.Add(time.Minute))},
		{name: "a failure after the success of the same attempt is a no-op", given: paidHistory(), when: fail(1, "insufficient_funds", f1)},
		{name: "a failure while another attempt paid: recorded, no dunning",
			given: append(dunning(1), started(2, retryAt(1)), succeeded(1, 2995, retryAt(1)), paid(1, retryAt(1))),
			when:  fail(2, "insufficient_funds", retryAt(1).Add(time.Minute)),
			then:  []invoice.Event{failed(2, "insufficient_funds", false, retryAt(1).Add(time.Minute))}},
		{name: "a SEPA retry fails after processing: the schedule goes on",
			given: append(dunning(1), started(2, retryAt(1)), processing(2, retryAt(1))),
			when:  fail(2, "insufficient_funds", retryAt(1).Add(time.Minute)),
			then:  []invoice.Event{failed(2, "insufficient_funds", false, retryAt(1).Add(time.Minute)), scheduled(2, retryAt(2), retryAt(1).Add(time.Minute))}},
		{name: "an unknown attempt", given: hist(created(), started(1, t0)), when: fail(2, "insufficient_funds", f1), err: invoice.ErrAttemptNotFound},
		{name: "another intent than the attempt's", given: hist(created(), started(1, t0), processing(1, t0)),
			when: invoice.RecordAttemptFailed{PaymentID: pay(1), PaymentIntentID: "pi_x", At: f1}, err: invoice.ErrPaymentIntentMismatch},
		{name: "a malformed decline code", given: hist(created(), started(1, t0)), when: fail(1, "Card Declined", f1), err: domain.ErrInvalid, field: "decline_code"},
		{name: "no time", given: hist(created(), started(1, t0)), when: invoice.RecordAttemptFailed{PaymentID: pay(1)}, err: domain.ErrInvalid, field: "at"},
		{name: "no invoice", when: fail(1, "insufficient_funds", f1), err: invoice.ErrInvoiceNotFound},
	})
}

func TestIsHardDecline(t *testing.T) {
	t.Parallel()
	for _, code := range []string{"stolen_card", "lost_card", "pickup_card", "fraudulent", "do_not_try_again", "expired_card",
		"revocation_of_authorization", "revocation_of_all_authorizations", "stop_payment_order", "incorrect_number", "invalid_account",
		"restricted_card", "merchant_blacklist", "authentication_required", "account_closed", "debit_not_authorized", "no_account"} {
		require.True(t, invoice.IsHardDecline(code), code)
	}
	for _, code := range []string{"", "insufficient_funds", "do_not_honor", "generic_decline", "try_again_later", "processing_error",
		"issuer_not_available", "card_velocity_exceeded", "withdrawal_count_exceeded", "approve_with_id", "call_issuer", "something_new"} {
		require.False(t, invoice.IsHardDecline(code), code)
	}
}

func TestRefund(t *testing.T) {
	t.Parallel()
	t1 := t0.Add(days(3))
	amt := func(a int64) *domain.Money { m := domain.Cents(a); return &m }
	usd, err := domain.NewMoney(100, "USD")
	require.NoError(t, err)
	partly := append(paidHistory(), refunded("re_1", 1000, 1000, false, t1))
	doubled := append(dunning(1), started(2, retryAt(1)), succeeded(2, 2995, retryAt(1)), paid(2, retryAt(1)),
		invoice.AttemptSucceeded{InvoiceID: iid, CustomerID: cid, SubscriptionID: sid, PaymentID: pay(1), Attempt: 1, PaymentIntentID: pi(1),
			Amount: price, PaidTotal: domain.Cents(5990), AfterFailure: true, Duplicate: true, SucceededAt: retryAt(1)})
	run(t, []tc{
		{name: "all of it (no amount)", given: paidHistory(), when: invoice.Refund{RefundID: "re_1", At: t1}, then: []invoice.Event{refunded("re_1", 2995, 2995, true, t1)}},
		{name: "a part", given: paidHistory(), when: invoice.Refund{RefundID: "re_1", Amount: amt(1000), At: t1}, then: []invoice.Event{refunded("re_1", 1000, 1000, false, t1)}},
		{name: "the rest after a part (no amount)", given: partly, when: invoice.Refund{RefundID: "re_2", At: t1}, then: []invoice.Event{refunded("re_2", 1995, 2995, true, t1)}},
		{name: "exactly the rest", given: partly, when: invoice.Refund{RefundID: "re_2", Amount: amt(1995), At: t1}, then: []invoice.Event{refunded("re_2", 1995, 2995, true, t1)}},
		{name: "one cent more than the rest", given: partly, when: invoice.Refund{RefundID: "re_2", Amount: amt(1996), At: t1}, err: invoice.ErrRefundExceedsPaid},
		{name: "more than was paid", given: paidHistory(), when: invoice.Refund{RefundID: "re_1", Amount: amt(2996), At: t1}, err: invoice.ErrRefundExceedsPaid},
		{name: "anything after a full refund", given: append(paidHistory(), refunded("re_1", 2995, 2995, true, t1)), when: invoice.Refund{RefundID: "re_2", Amount: amt(1), At: t1}, err: invoice.ErrRefundExceedsPaid},
		{name: "the rest after a full refund", given: append(paidHistory(), refunded("re_1", 2995, 2995, true, t1)), when: invoice.Refund{RefundID: "re_2", At: t1}, err: invoice.ErrRefundExceedsPaid},
		{name: "a known refund id is a no-op (webhook after the request)", given: partly, when: invoice.Refund{RefundID: "re_1", Amount: amt(1000), At: t1.Add(time.Minute)}},
		{name: "a known refund id after the full refund is still a no-op", given: append(paidHistory(), refunded("re_1", 2995, 2995, true, t1)), when: invoice.Refund{RefundID: "re_1", At: t1}},
		{name: "money collected twice can be refunded twice", given: doubled, when: invoice.Refund{RefundID: "re_dup", At: t1}, then: []invoice.Event{refunded("re_dup", 5990, 5990, true, t1)}},
		{name: "an open invoice", given: hist(created()), when: invoice.Refund{RefundID: "re_1", At: t1}, err: invoice.ErrInvoiceNotPaid},
		{name: "a failed invoice", given: dunning(1), when: invoice.Refund{RefundID: "re_1", At: t1}, err: invoice.ErrInvoiceNotPaid},
		{name: "a void invoice", given: append(dunning(1), voided(t1)), when: invoice.Refund{RefundID: "re_1", At: t1}, err: invoice.ErrInvoiceNotPaid},
		{name: "zero", given: paidHistory(), when: invoice.Refund{RefundID: "re_1", Amount: amt(0), At: t1}, err: domain.ErrInvalid, field: "amount"},
		{name: "negative", given: paidHistory(), when: invoice.Refund{RefundID: "re_1", Amount: amt(-100), At: t1}, err: domain.ErrInvalid, field: "amount"},
		{name: "without a currency", given: paidHistory(), when: invoice.Refund{RefundID: "re_1", Amount: &domain.Money{}, At: t1}, err: domain.ErrInvalid, field: "amount"},
		{name: "another currency", given: paidHistory(), when: invoice.Refund{RefundID: "re_1", Amount: &usd, At: t1}, err: domain.ErrCurrencyMismatch, field: "amount.currency"},
		{name: "no refund id", given: paidHistory(), when: invoice.Refund{At: t1}, err: domain.ErrInvalid, field: "refund_id"},
		{name: "a malformed refund id", given: paidHistory(), when: invoice.Refund{RefundID: "re 1", At: t1}, err: domain.ErrInvalid, field: "refund_id"},
		{name: "no time", given: paidHistory(), when: invoice.Refund{RefundID: "re_1"}, err: domain.ErrInvalid, field: "at"},
		{name: "no invoice", when: invoice.Refund{RefundID: "re_1", At: t1}, err: invoice.ErrInvoiceNotFound},
	})
}

func TestErrorCodes(t *testing.T) {
	t.Parallel()
	require.Equal(t, "refund_exceeds_paid", invoice.ErrRefundExceedsPaid.Code)
	require.Equal(t, domain.KindConflict, invoice.ErrRefundExceedsPaid.Kind)
	require.Equal(t, domain.KindNotFound, invoice.ErrInvoiceNotFound.Kind)
	require.Equal(t, domain.KindNotFound, invoice.ErrAttemptNotFound.Kind)
}

func TestVoid(t *testing.T) {
	t.Parallel()
	t1 := f1.Add(time.Hour)
	run(t, []tc{
		{name: "an open invoice", given: hist(created()), when: invoice.Void{Reason: " order canceled ", At: t1},
			then: []invoice.Event{invoice.Voided{InvoiceID: iid, CustomerID: cid, SubscriptionID: sid, Reason: "order canceled", VoidedAt: t1}}},
		{name: "a failed invoice with a retry pending", given: dunning(1), when: invoice.Void{At: t1}, then: []invoice.Event{voided(t1)}},
		{name: "a failed invoice whose retries are exhausted", given: dunning(5), when: invoice.Void{At: t1}, then: []invoice.Event{voided(t1)}},
		{name: "voiding twice is a no-op", given: append(dunning(1), voided(t1)), when: invoice.Void{At: t1.Add(time.Hour)}},
		{name: "a paid invoice", given: paidHistory(), when: invoice.Void{At: t1}, err: invoice.ErrInvoicePaid},
		{name: "a refunded invoice", given: append(paidHistory(), refunded("re_1", 2995, 2995, true, t1)), when: invoice.Void{At: t1}, err: invoice.ErrInvoicePaid},
		{name: "while an attempt is in flight", given: hist(created(), started(1, t0)), when: invoice.Void{At: t1}, err: invoice.ErrAttemptPending},
		{name: "a reason with a control character", given: hist(created()), when: invoice.Void{Reason: "\x1b", At: t1}, err: domain.ErrInvalid, field: "reason"},
		{name: "no time", given: hist(created()), when: invoice.Void{}, err: domain.ErrInvalid, field: "at"},
		{name: "no invoice", when: invoice.Void{At: t1}, err: invoice.ErrInvoiceNotFound},
	})
}

func ptr[T any](v T) *T { return &v }

// TestState folds histories into what the pages show.
func TestState(t *testing.T) {
	t.Parallel()
	require.False(t, invoice.Fold().Exists())

	s := invoice.Fold(created())
	require.Equal(t, invoice.StatusOpen, s.Status)
	require.Equal(t, domain.Cents(0), s.PaidAmount)
	require.Equal(t, domain.Cents(0), s.RefundedAmount)
	require.Equal(t, invoice.VAT{RateBP: 2100, Amount: domain.Cents(520)}, s.VAT)

	s = invoice.Fold(dunning(2)...)
	require.Equal(t, invoice.StatusFailed, s.Status)
	require.Equal(t, 1, s.Retries)
	require.True(t, s.RetryPending)
	require.Equal(t, ptr(retryAt(2)), s.NextRetryAt)
	require.Equal(t, ptr(f1), s.FirstFailedAt)
	require.Equal(t, pi(2), s.StripePaymentIntentID)

	s = invoice.Evolve(s, started(3, retryAt(2)))
	require.Equal(t, 2, s.Retries)
	require.False(t, s.RetryPending, "starting the retry takes it off the schedule")
	require.Nil(t, s.NextRetryAt)
	require.Empty(t, s.StripePaymentIntentID, "the latest attempt has no intent yet")

	s = invoice.Fold(dunning(5)...)
	require.True(t, s.RetriesExhausted)
	require.False(t, s.RetryPending)
	require.Equal(t, 4, s.Retries)

	// The whole life of an invoice: failed, retried through SEPA, paid,
	// partly refunded.
	t2 := retryAt(1).Add(days(3))
	t3 := t2.Add(days(1))
	s = invoice.Fold(append(dunning(1), started(2, retryAt(1)), processing(2, retryAt(1)), succeeded(2, 2995, t2), paid(2, t2),
		refunded("re_1", 500, 500, false, t3))...)
	require.Equal(t, invoice.State{
		ID: iid, Number: num, CustomerID: cid, CustomerName: name, SubscriptionID: sid, Cycle: 3,
		Status: invoice.StatusPaid, Lines: created().Lines, Subtotal: price, Discount: domain.Cents(0),
		VAT: invoice.VAT{RateBP: 2100, Amount: domain.Cents(520)}, Amount: price,
		BillingAddress: nl, DueOn: due, CreatedAt: t0,
		Attempts: []invoice.Attempt{
			{PaymentID: pay(1), Number: 1, Status: invoice.AttemptStatusFailed, PaymentIntentID: pi(1), Amount: price, StartedAt: t0, At: f1, DeclineCode: "insufficient_funds"},
			{PaymentID: pay(2), Number: 2, Status: invoice.AttemptStatusSucceeded, PaymentIntentID: pi(2), Amount: price, StartedAt: retryAt(1), At: t2},
		},
		Retries: 1, FirstFailedAt: ptr(f1), StripePaymentIntentID: pi(2),
		PaidAmount: price, PaidAt: ptr(t2),
		RefundedAmount: domain.Cents(500), Refunds: []invoice.RefundInfo{{RefundID: "re_1", Amount: domain.Cents(500), At: t3}},
	}, s)
	require.Equal(t, domain.Cents(2495), s.Refundable())

	s = invoice.Evolve(s, refunded("re_2", 2495, 2995, true, t3))
	require.Equal(t, invoice.StatusRefunded, s.Status)
	require.Equal(t, domain.Cents(0), s.Refundable())

	s = invoice.Fold(append(dunning(1), voided(f1.Add(time.Hour)))...)
	require.Equal(t, invoice.StatusVoid, s.Status)
	require.False(t, s.RetryPending)
	require.Nil(t, s.NextRetryAt)

	// Folding never modifies an earlier state or the events.
	h := dunning(1)
	before := invoice.Fold(h...)
	after := invoice.Evolve(before, succeeded(1, 2995, retryAt(1)))
	require.Equal(t, invoice.AttemptStatusFailed, before.Attempts[0].Status)
	require.Equal(t, invoice.AttemptStatusSucceeded, after.Attempts[0].Status)
	require.Equal(t, invoice.Fold(h...), invoice.Fold(h...))

	require.Equal(t, "invoice-inv_1", invoice.Stream(iid))
	require.Equal(t, invoice.Fold(h...), invoice.Aggregate.Fold(h...))
}

// TestCodec pins every stored type name and round-trips one of each event.
func TestCodec(t *testing.T) {
	t.Parallel()
	full := created()
	full.OrderID, full.Cycle, full.ShippingAddress = oid, 0, &de
	events := map[string]invoice.Event{
		"invoice.created":            full,
		"invoice.attempt_started":    started(1, t0),
		"invoice.attempt_processing": processing(1, t0),
		"invoice.attempt_succeeded": invoice.AttemptSucceeded{InvoiceID: iid, CustomerID: cid, SubscriptionID: sid, PaymentID: pay(1), Attempt: 1,
			PaymentIntentID: pi(1), Amount: price, PaidTotal: domain.Cents(5990), AfterFailure: true, Duplicate: true, SucceededAt: t0},
		"invoice.paid": invoice.Paid{InvoiceID: iid, Number: num, CustomerID: cid, SubscriptionID: sid, OrderID: oid,
			PaymentID: pay(1), PaymentIntentID: pi(1), Amount: price, PaidAt: t0},
		"invoice.attempt_failed": invoice.AttemptFailed{InvoiceID: iid, CustomerID: cid, SubscriptionID: sid, PaymentID: pay(1), Attempt: 1,
			PaymentIntentID: pi(1), DeclineCode: "stolen_card", Message: "Your card was declined.", Hard: true, FailedAt: f1},
		"invoice.retry_scheduled":   scheduled(1, retryAt(1), f1),
		"invoice.retries_exhausted": exhausted(5, "insufficient_funds", invoice.ExhaustedSchedule, f1),
		"invoice.refunded":          refunded("re_1", 100, 100, false, t0),
		"invoice.voided":            invoice.Voided{InvoiceID: iid, CustomerID: cid, SubscriptionID: sid, Reason: "r", VoidedAt: t0},
	}
	for name, e := range events {
		require.Equal(t, name, e.EventType())
		require.True(t, invoice.Codec.Knows(name))
		stored, data, err := invoice.Codec.Encode(e)
		require.NoError(t, err)
		require.Equal(t, name, stored)
		back, err := invoice.Codec.Decode(stored, data)
		require.NoError(t, err)
		require.Equal(t, e, back, name)
	}

	_, data, err := invoice.Codec.Encode(scheduled(2, retryAt(2), f1))
	require.NoError(t, err)
	require.JSONEq(t, `{"invoice_id": "inv_1", "customer_id": "cus_1", "subscription_id": "sub_1", "retry": 2, "attempt": 3,
		"retry_at": "2026-11-24T09:05:00Z", "scheduled_at": "2026-11-21T09:05:00Z"}`, string(data))
	_, data, err = invoice.Codec.Encode(exhausted(5, "insufficient_funds", invoice.ExhaustedSchedule, f1))
	require.NoError(t, err)
	require.JSONEq(t, `{"invoice_id": "inv_1", "number": "INV-2026-000042", "customer_id": "cus_1", "subscription_id": "sub_1",
		"cycle": 3, "amount": {"amount": 2995, "currency": "EUR"}, "attempts": 5, "last_decline_code": "insufficient_funds",
		"reason": "schedule_exhausted", "exhausted_at": "2026-11-21T09:05:00Z"}`, string(data))
}

func TestDefaultRetrySchedule(t *testing.T) {
	t.Parallel()
	require.Equal(t, invoice.RetrySchedule{1, 3, 5, 7}, invoice.DefaultRetrySchedule())
	require.NoError(t, invoice.DefaultRetrySchedule().Validate())
	d := invoice.DefaultRetrySchedule()
	d[0] = 99
	require.Equal(t, invoice.RetrySchedule{1, 3, 5, 7}, invoice.DefaultRetrySchedule(), "callers get a copy")
	require.Error(t, invoice.RetrySchedule{1, 1}.Validate())
	require.Error(t, invoice.RetrySchedule{invoice.MaxRetryDays + 1}.Validate())
}
