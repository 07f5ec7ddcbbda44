package invoice

import (
	"slices"
	"time"

	"github.com/subsd/subsd/domain"
)

// Status is the invoice status of API.md. The zero Status is "no invoice".
type Status string

// The invoice statuses.
const (
	StatusOpen     Status = "open"
	StatusPaid     Status = "paid"
	StatusFailed   Status = "failed"
	StatusRefunded Status = "refunded"
	StatusVoid     Status = "void"
)

// AttemptStatus is where one payment attempt is.
type AttemptStatus string

// The attempt statuses. Pending and processing have no outcome yet.
const (
	AttemptStatusPending    AttemptStatus = "pending"
	AttemptStatusProcessing AttemptStatus = "processing"
	AttemptStatusSucceeded  AttemptStatus = "succeeded"
	AttemptStatusFailed     AttemptStatus = "failed"
)

// State is an invoice as the customer and subscription pages show it: the
// fold of its events. The zero State is an invoice that does not exist.
type State struct {
	ID              domain.InvoiceID      `json:"id"`
	Number          domain.InvoiceNumber  `json:"number"`
	CustomerID      domain.CustomerID     `json:"customer_id"`
	CustomerName    string                `json:"customer_name"`
	SubscriptionID  domain.SubscriptionID `json:"subscription_id,omitempty"`
	Cycle           int                   `json:"cycle,omitempty"`
	OrderID         domain.OrderID        `json:"order_id,omitempty"`
	Status          Status                `json:"status"`
	Lines           []domain.PricedLine   `json:"lines"`
	Subtotal        domain.Money          `json:"subtotal"`
	Discount        domain.Money          `json:"discount"`
	VAT             VAT                   `json:"vat"`
	Amount          domain.Money          `json:"amount"`
	BillingAddress  domain.Address        `json:"billing_address"`
	ShippingAddress *domain.Address       `json:"shipping_address,omitempty"`
	DueOn           domain.Date           `json:"due_on"`
	CreatedAt       time.Time             `json:"created_at"`

	Attempts []Attempt `json:"attempts"`
	// Retries is the number of attempts after the first.
	Retries      int        `json:"retries"`
	RetryPending bool       `json:"retry_pending"`
	NextRetryAt  *time.Time `json:"next_retry_at"`
	// RetriesExhausted is set once dunning gave up (RetriesExhausted event).
	RetriesExhausted bool `json:"retries_exhausted"`
	// FirstFailedAt anchors the retry schedule.
	FirstFailedAt *time.Time `json:"first_failed_at,omitempty"`
	// StripePaymentIntentID is the payment intent of the latest attempt,
	// empty until Stripe made one.
	StripePaymentIntentID string `json:"stripe_payment_intent_id,omitempty"`

	PaidAmount     domain.Money `json:"paid_amount"`
	PaidAt         *time.Time   `json:"paid_at"`
	RefundedAmount domain.Money `json:"refunded_amount"`
	Refunds        []RefundInfo `json:"refunds"`
	VoidedAt       *time.Time   `json:"voided_at,omitempty"`
	VoidReason     string       `json:"void_reason,omitempty"`
}

// VAT is the invoice's VAT rate and the sum of its rounded line VATs.
type VAT struct {
	RateBP domain.VATRate `json:"rate_bp"`
	Amount domain.Money   `json:"amount"`
}

// Attempt is one payment attempt. At is the time of its latest change.
type Attempt struct {
	PaymentID       domain.PaymentID `json:"payment_id"`
	Number          int              `json:"number"`
	Status          AttemptStatus    `json:"status"`
	PaymentIntentID string           `json:"payment_intent_id,omitempty"`
	Amount          domain.Money     `json:"amount"`
	StartedAt       time.Time        `json:"started_at"`
	At              time.Time        `json:"at"`
	DeclineCode     string           `json:"decline_code,omitempty"`
	Hard            bool             `json:"hard,omitempty"`
	// Duplicate marks a success collected after another attempt had paid.
	Duplicate bool `json:"duplicate,omitempty"`
}

// RefundInfo is one refund.
type RefundInfo struct {
	RefundID string       `json:"refund_id"`
	Amount   domain.Money `json:"amount"`
	At       time.Time    `json:"at"`
}

// Exists reports whether the invoice has been created.
func (s State) Exists() bool { return s.Status != "" }

// Refundable returns what can still be refunded: paid minus refunded.
func (s State) Refundable() domain.Money {
	r, err := s.PaidAmount.Sub(s.RefundedAmount)
	if err != nil { // both in the invoice's currency by construction
		return domain.Zero(s.Amount.Currency())
	}
	return r
}

// attempt returns the index of the attempt paid with id, or -1.
func (s State) attempt(id domain.PaymentID) int {
	return slices.IndexFunc(s.Attempts, func(a Attempt) bool { return a.PaymentID == id })
}

// inFlight reports whether the latest attempt has no outcome yet.
func (s State) inFlight() bool {
	if len(s.Attempts) == 0 {
		return false
	}
	st := s.Attempts[len(s.Attempts)-1].Status
	return st == AttemptStatusPending || st == AttemptStatusProcessing
}

// collected reports whether any attempt succeeded.
func (s State) collected() bool {
	return slices.ContainsFunc(s.Attempts, func(a Attempt) bool { return a.Status == AttemptStatusSucceeded })
}

// Evolve applies one event. It copies facts; every amount, total and time
// was decided when the event was made.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case Created:
		cur := e.Amount.Currency()
		s = State{
			ID: e.InvoiceID, Number: e.Number, CustomerID: e.CustomerID, CustomerName: e.CustomerName,
			SubscriptionID: e.SubscriptionID, Cycle: e.Cycle, OrderID: e.OrderID,
			Status: StatusOpen,
			Lines:  slices.Clone(e.Lines), Subtotal: e.Subtotal, Discount: e.Discount,
			VAT: VAT{RateBP: e.VATRate, Amount: e.VAT}, Amount: e.Amount,
			BillingAddress: e.BillingAddress, ShippingAddress: clone(e.ShippingAddress),
			DueOn: e.DueOn, CreatedAt: e.CreatedAt,
			PaidAmount: domain.Zero(cur), RefundedAmount: domain.Zero(cur),
		}
	case AttemptStarted:
		s.Attempts = append(slices.Clip(s.Attempts), Attempt{
			PaymentID: e.PaymentID, Number: e.Attempt, Status: AttemptStatusPending, Amount: e.Amount,
			StartedAt: e.StartedAt, At: e.StartedAt,
		})
		s.Retries = max(e.Attempt-1, 0)
		s.RetryPending, s.NextRetryAt = false, nil
	case AttemptProcessing:
		s = s.withAttempt(e.PaymentID, func(a *Attempt) {
			a.Status, a.PaymentIntentID, a.At = AttemptStatusProcessing, e.PaymentIntentID, e.ProcessingAt
		})
	case AttemptSucceeded:
		s = s.withAttempt(e.PaymentID, func(a *Attempt) {
			a.Status, a.PaymentIntentID, a.At, a.Duplicate = AttemptStatusSucceeded, e.PaymentIntentID, e.SucceededAt, e.Duplicate
			a.DeclineCode, a.Hard = "", false
		})
		s.PaidAmount = e.PaidTotal
		s.RetryPending, s.NextRetryAt = false, nil
		if s.Status == StatusRefunded {
			s.Status = StatusPaid // money is held again: refundable once more
		}
	case Paid:
		s.Status = StatusPaid
		s.PaidAt = &e.PaidAt
	case AttemptFailed:
		s = s.withAttempt(e.PaymentID, func(a *Attempt) {
			a.Status, a.At, a.DeclineCode, a.Hard = AttemptStatusFailed, e.FailedAt, e.DeclineCode, e.Hard
			if e.PaymentIntentID != "" {
				a.PaymentIntentID = e.PaymentIntentID
			}
		})
		if s.Status == StatusOpen || s.Status == StatusFailed {
			s.Status = StatusFailed
			if s.FirstFailedAt == nil {
				s.FirstFailedAt = &e.FailedAt
			}
		}
	case RetryScheduled:
		s.RetryPending, s.NextRetryAt = true, &e.RetryAt
	case RetriesExhausted:
		s.RetriesExhausted = true
		s.RetryPending, s.NextRetryAt = false, nil
	case Refunded:
		s.Refunds = append(slices.Clip(s.Refunds), RefundInfo{RefundID: e.RefundID, Amount: e.Amount, At: e.RefundedAt})
		s.RefundedAmount = e.RefundedTotal
		if e.Full {
			s.Status = StatusRefunded
		}
	case Voided:
		s.Status = StatusVoid
		s.VoidedAt, s.VoidReason = &e.VoidedAt, e.Reason
		s.RetryPending, s.NextRetryAt = false, nil
	}
	if n := len(s.Attempts); n > 0 {
		s.StripePaymentIntentID = s.Attempts[n-1].PaymentIntentID
	}
	return s
}

// withAttempt returns s with the attempt paid with id changed by f, on a
// copy of the attempts so that earlier states are never modified.
func (s State) withAttempt(id domain.PaymentID, f func(*Attempt)) State {
	i := s.attempt(id)
	if i < 0 {
		return s
	}
	s.Attempts = slices.Clone(s.Attempts)
	f(&s.Attempts[i])
	return s
}

// Fold is Evolve over the zero State: the only way an invoice is rebuilt.
func Fold(events ...Event) State {
	var s State
	for _, e := range events {
		s = Evolve(s, e)
	}
	return s
}

// Aggregate describes the invoice to the code that runs commands against the
// event store.
var Aggregate = domain.Aggregate[State, Command, Event]{Codec: Codec, Decide: Decide, Evolve: Evolve}

func clone[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
