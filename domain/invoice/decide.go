package invoice

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/subsd/subsd/domain"
)

// The invoice's business-rule errors.
var (
	// ErrInvoiceNotFound: a command other than Create on an invoice that
	// does not exist.
	ErrInvoiceNotFound = domain.NotFound("invoice_not_found", "the invoice does not exist")
	// ErrInvoiceExists: Create on an invoice id already created with another
	// number.
	ErrInvoiceExists = domain.Conflict("invoice_exists", "an invoice with this id already exists")
	// ErrInvoicePaid: charging or voiding an invoice that has been paid
	// (also when it has since been refunded).
	ErrInvoicePaid = domain.Conflict("invoice_already_paid", "the invoice has been paid")
	// ErrInvoiceVoid: charging a void invoice.
	ErrInvoiceVoid = domain.Conflict("invoice_void", "the invoice is void")
	// ErrInvoiceNotPaid: refunding an invoice nothing was paid on.
	ErrInvoiceNotPaid = domain.Conflict("invoice_not_paid", "the invoice has not been paid, so there is nothing to refund")
	// ErrRefundExceedsPaid: a refund above what was paid minus what was
	// already refunded.
	ErrRefundExceedsPaid = domain.Conflict("refund_exceeds_paid", "the refund exceeds what was paid and not yet refunded")
	// ErrAttemptPending: a new attempt, or voiding, while the latest attempt
	// has no outcome yet.
	ErrAttemptPending = domain.Conflict("payment_attempt_pending", "a payment attempt is still waiting for its outcome")
	// ErrAttemptExists: an attempt number or payment id already used by
	// another attempt.
	ErrAttemptExists = domain.Conflict("payment_attempt_exists", "this attempt number or payment id belongs to another attempt")
	// ErrAttemptOutOfSequence: an attempt number other than the next one.
	ErrAttemptOutOfSequence = domain.Conflict("payment_attempt_out_of_sequence", "payment attempts are numbered 1, 2, 3, ... without gaps")
	// ErrAttemptNotFound: an outcome for a payment id no attempt has.
	ErrAttemptNotFound = domain.NotFound("payment_attempt_not_found", "no payment attempt of this invoice has this payment id")
	// ErrPaymentIntentMismatch: an outcome naming another payment intent
	// than the one the attempt already has.
	ErrPaymentIntentMismatch = domain.Conflict("payment_intent_mismatch", "the payment intent is not the attempt's")
)

// Decide runs a command against an invoice. It returns the events to append,
// nil for an idempotent repeat, or an *domain.Error: Invalid for bad input
// (naming the field), or one of the ErrXxx sentinels above.
func Decide(s State, c Command) ([]Event, error) {
	if cr, ok := c.(Create); ok {
		return create(s, cr)
	}
	if !s.Exists() {
		return nil, ErrInvoiceNotFound
	}
	switch c := c.(type) {
	case StartAttempt:
		return startAttempt(s, c)
	case RecordAttemptProcessing:
		return attemptProcessing(s, c)
	case RecordAttemptSucceeded:
		return attemptSucceeded(s, c)
	case RecordAttemptFailed:
		return attemptFailed(s, c)
	case Refund:
		return refund(s, c)
	case Void:
		return void(s, c)
	}
	return nil, fmt.Errorf("invoice: unknown command %T", c)
}

func create(s State, c Create) ([]Event, error) {
	if s.Exists() {
		if s.ID == c.InvoiceID && s.Number == c.Number {
			return nil, nil
		}
		return nil, ErrInvoiceExists
	}
	if _, err := domain.ParseInvoiceID(string(c.InvoiceID)); err != nil {
		return nil, err
	}
	if _, err := domain.ParseInvoiceNumber(string(c.Number)); err != nil {
		return nil, err
	}
	if _, err := domain.ParseCustomerID(string(c.CustomerID)); err != nil {
		return nil, err
	}
	name := strings.TrimSpace(c.CustomerName)
	if err := text("customer_name", name, 200, true); err != nil {
		return nil, err
	}
	if c.SubscriptionID != "" {
		if _, err := domain.ParseSubscriptionID(string(c.SubscriptionID)); err != nil {
			return nil, err
		}
	}
	if c.OrderID == "" {
		// A subscription cycle's charge.
		if c.SubscriptionID == "" {
			return nil, domain.Invalid("subscription_id", "an invoice charges a subscription cycle or an order: subscription_id or order_id is required")
		}
		if c.Cycle < 1 {
			return nil, domain.Invalid("cycle", "a subscription charge names its cycle, 1 or more, got %d", c.Cycle)
		}
	} else {
		if _, err := domain.ParseOrderID(string(c.OrderID)); err != nil {
			return nil, err
		}
		if c.Cycle != 0 {
			return nil, domain.Invalid("cycle", "an order's invoice has no subscription cycle, got %d", c.Cycle)
		}
	}
	billing, err := address("billing_address", c.BillingAddress)
	if err != nil {
		return nil, err
	}
	var shipping *domain.Address
	if c.ShippingAddress != nil {
		a, err := address("shipping_address", *c.ShippingAddress)
		if err != nil {
			return nil, err
		}
		shipping = &a
	}
	if c.DueOn.IsZero() {
		return nil, domain.Invalid("due_on", "the due date is required")
	}
	if c.At.IsZero() {
		return nil, domain.Invalid("at", "the time of the command is required")
	}
	rate, err := c.VATRates.RateFor(billing, shipping)
	if err != nil {
		return nil, err
	}
	p, err := domain.PriceLines("lines", c.Lines, c.Discount, rate)
	if err != nil {
		return nil, err
	}
	if !p.Total.IsPositive() {
		return nil, domain.Invalid("lines", "an invoice must charge more than nothing, got %s", p.Total)
	}
	return []Event{Created{
		InvoiceID: c.InvoiceID, Number: c.Number, CustomerID: c.CustomerID, CustomerName: name,
		SubscriptionID: c.SubscriptionID, Cycle: c.Cycle, OrderID: c.OrderID,
		Lines: p.Lines, Subtotal: p.Subtotal, Discount: p.Discount, Amount: p.Total,
		VATRate: p.VATRate, VAT: p.VAT,
		BillingAddress: billing, ShippingAddress: shipping,
		DueOn: c.DueOn, CreatedAt: c.At.UTC(),
	}}, nil
}

func startAttempt(s State, c StartAttempt) ([]Event, error) {
	if _, err := domain.ParsePaymentID(string(c.PaymentID)); err != nil {
		return nil, err
	}
	if c.Attempt < 1 {
		return nil, domain.Invalid("attempt", "attempts are numbered from 1, got %d", c.Attempt)
	}
	if c.At.IsZero() {
		return nil, domain.Invalid("at", "the time of the command is required")
	}
	for _, a := range s.Attempts {
		if a.Number == c.Attempt && a.PaymentID == c.PaymentID {
			return nil, nil // a retried start: Stripe gets the same idempotency key
		}
		if a.Number == c.Attempt || a.PaymentID == c.PaymentID {
			return nil, ErrAttemptExists
		}
	}
	switch {
	case s.Status == StatusVoid:
		return nil, ErrInvoiceVoid
	case s.collected():
		return nil, ErrInvoicePaid
	case s.inFlight():
		return nil, ErrAttemptPending
	case c.Attempt != len(s.Attempts)+1:
		return nil, ErrAttemptOutOfSequence
	}
	return []Event{AttemptStarted{
		InvoiceID: s.ID, CustomerID: s.CustomerID, SubscriptionID: s.SubscriptionID,
		PaymentID: c.PaymentID, Attempt: c.Attempt, Amount: s.Amount, StartedAt: c.At.UTC(),
	}}, nil
}

// outcome finds the attempt an outcome is for and checks its intent.
func outcome(s State, id domain.PaymentID, intent string, intentRequired bool, at time.Time) (Attempt, error) {
	if _, err := domain.ParsePaymentID(string(id)); err != nil {
		return Attempt{}, err
	}
	if intent != "" || intentRequired {
		if err := paymentIntentID(intent); err != nil {
			return Attempt{}, err
		}
	}
	if at.IsZero() {
		return Attempt{}, domain.Invalid("at", "the time of the command is required")
	}
	i := s.attempt(id)
	if i < 0 {
		return Attempt{}, ErrAttemptNotFound
	}
	a := s.Attempts[i]
	if intent != "" && a.PaymentIntentID != "" && a.PaymentIntentID != intent {
		return Attempt{}, ErrPaymentIntentMismatch
	}
	return a, nil
}

func attemptProcessing(s State, c RecordAttemptProcessing) ([]Event, error) {
	a, err := outcome(s, c.PaymentID, c.PaymentIntentID, true, c.At)
	if err != nil {
		return nil, err
	}
	if a.Status != AttemptStatusPending {
		return nil, nil // a repeat, or news older than the outcome
	}
	return []Event{AttemptProcessing{
		InvoiceID: s.ID, CustomerID: s.CustomerID, PaymentID: a.PaymentID, Attempt: a.Number,
		PaymentIntentID: c.PaymentIntentID, ProcessingAt: c.At.UTC(),
	}}, nil
}

func attemptSucceeded(s State, c RecordAttemptSucceeded) ([]Event, error) {
	a, err := outcome(s, c.PaymentID, c.PaymentIntentID, true, c.At)
	if err != nil {
		return nil, err
	}
	if a.Status == AttemptStatusSucceeded {
		return nil, nil // a duplicate webhook
	}
	already := s.collected()
	total, err := s.PaidAmount.Add(a.Amount)
	if err != nil {
		return nil, err
	}
	at := c.At.UTC()
	events := []Event{AttemptSucceeded{
		InvoiceID: s.ID, CustomerID: s.CustomerID, SubscriptionID: s.SubscriptionID,
		PaymentID: a.PaymentID, Attempt: a.Number, PaymentIntentID: c.PaymentIntentID,
		Amount: a.Amount, PaidTotal: total,
		AfterFailure: a.Status == AttemptStatusFailed, Duplicate: already, SucceededAt: at,
	}}
	if !already {
		events = append(events, Paid{
			InvoiceID: s.ID, Number: s.Number, CustomerID: s.CustomerID, SubscriptionID: s.SubscriptionID,
			Cycle: s.Cycle, OrderID: s.OrderID, PaymentID: a.PaymentID, PaymentIntentID: c.PaymentIntentID,
			Amount: a.Amount, PaidAt: at,
		})
	}
	return events, nil
}

func attemptFailed(s State, c RecordAttemptFailed) ([]Event, error) {
	a, err := outcome(s, c.PaymentID, c.PaymentIntentID, false, c.At)
	if err != nil {
		return nil, err
	}
	code := strings.TrimSpace(c.DeclineCode)
	if err := declineCode(code); err != nil {
		return nil, err
	}
	msg := strings.TrimSpace(c.Message)
	if err := text("message", msg, 500, false); err != nil {
		return nil, err
	}
	schedule := c.RetrySchedule
	if schedule == nil {
		schedule = DefaultRetrySchedule()
	}
	if err := schedule.Validate(); err != nil {
		return nil, err
	}
	if a.Status == AttemptStatusSucceeded || a.Status == AttemptStatusFailed {
		return nil, nil // a duplicate, or a failure after the success stood
	}
	at := c.At.UTC()
	hard := IsHardDecline(code)
	events := []Event{AttemptFailed{
		InvoiceID: s.ID, CustomerID: s.CustomerID, SubscriptionID: s.SubscriptionID,
		PaymentID: a.PaymentID, Attempt: a.Number, PaymentIntentID: c.PaymentIntentID,
		DeclineCode: code, Message: msg, Hard: hard, FailedAt: at,
	}}
	if s.Status != StatusOpen && s.Status != StatusFailed {
		return events, nil // paid by another attempt, or void: no dunning
	}

	failures := 1
	for _, o := range s.Attempts {
		if o.Status == AttemptStatusFailed {
			failures++
		}
	}
	first := at
	if s.FirstFailedAt != nil {
		first = *s.FirstFailedAt
	}
	exhausted := func(reason ExhaustedReason) []Event {
		if s.RetriesExhausted {
			return events // dunning already gave up once; the reactor acted then
		}
		return append(events, RetriesExhausted{
			InvoiceID: s.ID, Number: s.Number, CustomerID: s.CustomerID, SubscriptionID: s.SubscriptionID,
			Cycle: s.Cycle, OrderID: s.OrderID, Amount: s.Amount, Attempts: len(s.Attempts),
			LastDeclineCode: code, Reason: reason, ExhaustedAt: at,
		})
	}
	if hard {
		return exhausted(ExhaustedHardDecline), nil
	}
	retryAt, ok := schedule.at(failures, first, c.Location)
	if !ok {
		return exhausted(ExhaustedSchedule), nil
	}
	if soonest, _ := schedule.at(1, at, c.Location); retryAt.Before(soonest) {
		retryAt = soonest // a slot already passed: keep one first-offset gap, never a burst
	}
	return append(events, RetryScheduled{
		InvoiceID: s.ID, CustomerID: s.CustomerID, SubscriptionID: s.SubscriptionID,
		Retry: failures, Attempt: len(s.Attempts) + 1, RetryAt: retryAt, ScheduledAt: at,
	}), nil
}

func refund(s State, c Refund) ([]Event, error) {
	id := strings.TrimSpace(c.RefundID)
	if err := refundID(id); err != nil {
		return nil, err
	}
	if c.At.IsZero() {
		return nil, domain.Invalid("at", "the time of the command is required")
	}
	for _, r := range s.Refunds {
		if r.RefundID == id {
			return nil, nil // the refund is known: a repeated request or webhook
		}
	}
	if !s.collected() {
		return nil, ErrInvoiceNotPaid
	}
	left := s.Refundable()
	amount := left
	if c.Amount != nil {
		amount = *c.Amount
		switch {
		case amount.Currency() == "":
			return nil, domain.Invalid("amount", "amount must be {\"amount\": <minor units>, \"currency\": ...} or left out")
		case amount.Currency() != s.Amount.Currency():
			return nil, domain.ErrCurrencyMismatch.WithField("amount.currency")
		case !amount.IsPositive():
			return nil, domain.Invalid("amount", "a refund must be more than zero, got %s", amount)
		}
	}
	if !amount.IsPositive() || amount.Amount() > left.Amount() {
		return nil, ErrRefundExceedsPaid
	}
	total, err := s.RefundedAmount.Add(amount)
	if err != nil {
		return nil, err
	}
	return []Event{Refunded{
		InvoiceID: s.ID, CustomerID: s.CustomerID, SubscriptionID: s.SubscriptionID,
		RefundID: id, Amount: amount, RefundedTotal: total, Full: total.Amount() == s.PaidAmount.Amount(),
		RefundedAt: c.At.UTC(),
	}}, nil
}

func void(s State, c Void) ([]Event, error) {
	reason := strings.TrimSpace(c.Reason)
	if err := text("reason", reason, 500, false); err != nil {
		return nil, err
	}
	if c.At.IsZero() {
		return nil, domain.Invalid("at", "the time of the command is required")
	}
	switch {
	case s.Status == StatusVoid:
		return nil, nil
	case s.collected():
		return nil, ErrInvoicePaid
	case s.inFlight():
		return nil, ErrAttemptPending
	}
	return []Event{Voided{
		InvoiceID: s.ID, CustomerID: s.CustomerID, SubscriptionID: s.SubscriptionID,
		Reason: reason, VoidedAt: c.At.UTC(),
	}}, nil
}

// address returns a trimmed, validated copy of a, errors prefixed by field.
func address(field string, a domain.Address) (domain.Address, error) {
	v, err := domain.NewAddress(a.Street, a.Zipcode, a.City, string(a.Country))
	if err != nil {
		return domain.Address{}, domain.PrefixField(field, err)
	}
	return v, nil
}

// paymentIntentID accepts a Stripe payment intent id: "pi_" and up to 250
// characters of [A-Za-z0-9_].
func paymentIntentID(s string) error {
	rest, ok := strings.CutPrefix(s, "pi_")
	if !ok || !token(rest, 250, false) {
		return domain.Invalid("payment_intent_id", "payment_intent_id must be a Stripe payment intent id (pi_...), got %q", s)
	}
	return nil
}

// refundID accepts a Stripe refund id ("re_..." for cards, "pyr_..." for
// some bank debits): 1 to 255 characters of [A-Za-z0-9_-].
func refundID(s string) error {
	if !token(s, 255, true) {
		return domain.Invalid("refund_id", "refund_id must be a Stripe refund id, got %q", s)
	}
	return nil
}

// declineCode accepts Stripe's snake_case codes (or none).
func declineCode(s string) error {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return domain.Invalid("decline_code", "decline_code must be a snake_case Stripe code, got %q", s)
		}
	}
	if len(s) > 100 {
		return domain.Invalid("decline_code", "decline_code must be at most 100 characters")
	}
	return nil
}

func token(s string, max int, dash bool) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || dash && r == '-') {
			return false
		}
	}
	return true
}

// text checks a free-text field: valid UTF-8, at most max characters, no
// control characters, and present when required.
func text(field, v string, max int, required bool) error {
	if v == "" {
		if required {
			return domain.Invalid(field, "%s is required", field)
		}
		return nil
	}
	if !utf8.ValidString(v) || utf8.RuneCountInString(v) > max {
		return domain.Invalid(field, "%s must be valid text of at most %d characters", field, max)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return domain.Invalid(field, "%s must not contain control characters", field)
		}
	}
	return nil
}
