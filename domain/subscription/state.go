package subscription

import (
	"maps"
	"slices"
	"time"

	"github.com/subsd/subsd/domain"
)

// StreamPrefix starts the name of every subscription stream.
const StreamPrefix = "subscription-"

// Stream returns the name of the stream that holds subscription id.
func Stream(id domain.SubscriptionID) string { return StreamPrefix + string(id) }

// Status is where a subscription is in its life (API.md's status field).
type Status string

// The statuses.
const (
	// StatusPending: created, the first charge not yet paid. Ships nothing.
	StatusPending Status = "pending"
	// StatusActive: charges every cycle and ships every product when due.
	StatusActive Status = "active"
	// StatusPastDue: a charge's last retry failed. Ships and charges nothing.
	StatusPastDue Status = "past_due"
	// StatusPaused: paused by request. Ships and charges nothing.
	StatusPaused Status = "paused"
	// StatusCanceling: ends at EndsAt; ships and charges nothing more.
	StatusCanceling Status = "canceling"
	// StatusCanceled: over. Nothing can be done to it but recording money.
	StatusCanceled Status = "canceled"
)

// DeliveryMethod is how a subscription's orders reach the customer.
type DeliveryMethod string

// The delivery methods.
const (
	Delivery DeliveryMethod = "delivery"
	Pickup   DeliveryMethod = "pickup"
)

// FinalAction is what happens when a subscription becomes past_due; it is
// configuration, passed in MarkPastDue and recorded in the event.
type FinalAction string

// The final actions.
const (
	// FinalActionCancelAtPeriodEnd cancels at the end of the current cycle
	// (the default, and what the zero FinalAction means).
	FinalActionCancelAtPeriodEnd FinalAction = "cancel_at_period_end"
	// FinalActionCancelNow cancels at once.
	FinalActionCancelNow FinalAction = "cancel_now"
	// FinalActionNone leaves the subscription past_due until the invoice is
	// paid or someone cancels it.
	FinalActionNone FinalAction = "none"
)

// CancelCause says why a cancellation happened or is scheduled.
type CancelCause string

// The cancel causes.
const (
	// CauseRequested: asked for through the API (by the customer or support).
	CauseRequested CancelCause = "requested"
	// CauseNonPayment: the past-due final action. Such a scheduled
	// cancellation is withdrawn when the unpaid invoice is paid after all.
	CauseNonPayment CancelCause = "non_payment"
)

// ReasonPaymentFailed is the reason recorded on cancellations caused by a
// past-due final action.
const ReasonPaymentFailed = "payment_failed"

// Plan is what a subscription charges: Price every Interval.
type Plan struct {
	Name     string          `json:"name"`
	Price    domain.Money    `json:"price"`
	Interval domain.Interval `json:"interval"`
}

// Schedule places a product's next shipment on its own calendar: the next
// shipment is domain.Nth(AnchorOn, interval, Step). Every later date is
// computed from the anchor, never from the previous (possibly clamped) date,
// which is what brings a product anchored on the 31st back to the 31st.
type Schedule struct {
	AnchorOn domain.Date `json:"anchor_on"`
	Step     int         `json:"step"`
}

// Product is one active product of a subscription.
type Product struct {
	ProductID domain.ProductID
	Name      string
	Quantity  int
	Interval  domain.Interval
	// Price is nil for a product included in the plan; otherwise each
	// shipment is invoiced at Price × Quantity like a one-off order.
	Price          *domain.Money
	NextShipmentOn domain.Date
	// LastShippedOn is the due date of the last order made (zero: none yet).
	LastShippedOn domain.Date
	Schedule      Schedule
	// LastOrderID is the order of the last shipment, which makes a repeated
	// RecordShipmentDue or ShipNow with the same order id a no-op.
	LastOrderID domain.OrderID
}

// Ledger is what this subscription knows of one invoice: the charge it is
// for (Cycle 0 for an invoice that is not a plan charge, such as a priced
// product's shipment) and the money that moved on it.
type Ledger struct {
	Cycle    int
	Amount   domain.Money
	Paid     domain.Money
	Refunded domain.Money
}

// State is a subscription as its history leaves it; the zero State is a
// subscription that does not exist. Build it only with Fold. Every field a
// dashboard page shows is here, except subscribed_days (see SubscribedDays),
// which depends on the time of reading.
type State struct {
	ID              domain.SubscriptionID
	CustomerID      domain.CustomerID
	Status          Status
	Plan            Plan
	TermCycles      int // 0: open-ended
	DeliveryMethod  DeliveryMethod
	PaymentMethodID string

	SignedUpAt        time.Time
	ActivatedAt       time.Time
	PausedAt          time.Time // the current pause; zero when not paused
	CancelRequestedAt time.Time
	CanceledAt        time.Time
	// EndsAt is when a scheduled end takes effect (canceling, a scheduled
	// past-due cancellation, a term whose last cycle is charged), or when
	// the subscription ended (canceled).
	EndsAt time.Time
	// EndsOn is the business day of a scheduled EndsAt: shipments due on or
	// after it do not ship.
	EndsOn       domain.Date
	CancelReason string
	CancelCause  CancelCause

	PastDueAt          time.Time
	PastDueInvoiceID   domain.InvoiceID
	PastDueFinalAction FinalAction

	TotalPaid domain.Money

	// ChargeAnchorAt is slot 0 of the charge schedule (the sign-up instant).
	ChargeAnchorAt time.Time
	// ChargeSlot is the schedule slot of the next charge: where the current
	// cycle ends, and the next one starts.
	ChargeSlot int
	// Cycle is the number of cycles charged so far (the current cycle).
	Cycle          int
	CycleStartedAt time.Time
	CycleEndsAt    time.Time
	// NextChargeAt is zero when no charge is coming: the term's last cycle
	// is charged, or the subscription is canceling or canceled.
	NextChargeAt time.Time
	// LastChargeInvoiceID is the invoice of the latest charge.
	LastChargeInvoiceID domain.InvoiceID

	Invoices map[domain.InvoiceID]Ledger
	// Payments holds every payment id recorded, so a repeated RecordPayment
	// is a no-op.
	Payments map[domain.PaymentID]domain.InvoiceID
	// Products are the active products in the order they were added.
	Products []Product
}

// Exists reports whether the subscription was created.
func (s State) Exists() bool { return s.ID != "" }

// Product returns the active product id.
func (s State) Product(id domain.ProductID) (Product, bool) {
	if i := s.productIndex(id); i >= 0 {
		return s.Products[i], true
	}
	return Product{}, false
}

func (s State) productIndex(id domain.ProductID) int {
	return slices.IndexFunc(s.Products, func(p Product) bool { return p.ProductID == id })
}

// TermDone reports whether the last cycle of a fixed term has been charged:
// no charge follows, and the subscription ends at EndsAt.
func (s State) TermDone() bool { return s.TermCycles > 0 && s.Cycle >= s.TermCycles }

// SubscribedDays is the number of calendar days, in now's location, from
// activation to now (or to the cancellation, if earlier): 0 on the day of
// activation and for a subscription never activated. Pass now in the
// business zone. It is derived at read time, never stored.
func SubscribedDays(s State, now time.Time) int {
	if s.ActivatedAt.IsZero() {
		return 0
	}
	end := now
	if !s.CanceledAt.IsZero() && s.CanceledAt.Before(end) {
		end = s.CanceledAt
	}
	if end.Before(s.ActivatedAt) {
		return 0
	}
	loc := now.Location()
	return daysBetween(domain.DateIn(s.ActivatedAt, loc), domain.DateIn(end, loc))
}

func daysBetween(a, b domain.Date) int {
	ta := time.Date(a.Year, a.Month, a.Day, 12, 0, 0, 0, time.UTC)
	tb := time.Date(b.Year, b.Month, b.Day, 12, 0, 0, 0, time.UTC)
	return int(tb.Sub(ta) / (24 * time.Hour))
}

// Aggregate describes the subscription aggregate to the command runner.
var Aggregate = domain.Aggregate[State, Command, Event]{Codec: Codec, Decide: Decide, Evolve: Evolve}

// Fold evolves the zero State through events: the only way a State is built.
func Fold(events ...Event) State { return Aggregate.Fold(events...) }

// Evolve applies one event. It never computes a date or reads configuration:
// every computed value is in the event. It never modifies s's slices or maps
// in place, so earlier states stay valid. An event for a product the state
// does not have changes nothing.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case Created:
		s = State{
			ID:              e.SubscriptionID,
			CustomerID:      e.CustomerID,
			Status:          StatusPending,
			Plan:            e.Plan,
			DeliveryMethod:  e.DeliveryMethod,
			PaymentMethodID: e.PaymentMethodID,
			SignedUpAt:      e.SignedUpAt,
			TotalPaid:       domain.Zero(e.Plan.Price.Currency()),
			ChargeAnchorAt:  e.ChargeAnchorAt,
			NextChargeAt:    e.NextChargeAt,
		}
		if e.TermCycles != nil {
			s.TermCycles = *e.TermCycles
		}
		for _, p := range e.Products {
			s.Products = append(s.Products, p.product())
		}
	case ProductAdded:
		s.Products = append(slices.Clip(s.Products), e.Product.product())
	case ProductIntervalChanged:
		s = withProduct(s, e.ProductID, func(p *Product) {
			p.Interval = e.Interval
			p.Schedule = e.Schedule
		})
	case NextShipmentSet:
		s = withProduct(s, e.ProductID, func(p *Product) {
			p.NextShipmentOn = e.NextShipmentOn
			p.Schedule = e.Schedule
		})
	case ShipmentSkipped:
		s = withProduct(s, e.ProductID, func(p *Product) {
			p.NextShipmentOn = e.NextShipmentOn
			p.Schedule = e.Schedule
		})
	case ProductRemoved:
		if i := s.productIndex(e.ProductID); i >= 0 {
			s.Products = slices.Delete(slices.Clone(s.Products), i, i+1)
		}
	case ShipmentDue:
		s = withProduct(s, e.ProductID, func(p *Product) {
			p.LastShippedOn = e.DueOn
			p.LastOrderID = e.OrderID
			p.NextShipmentOn = e.NextShipmentOn
			p.Schedule = e.Schedule
		})
	case ChargeDue:
		s.Cycle = e.Cycle
		s.ChargeSlot = e.ChargeSlot
		s.CycleStartedAt = e.CycleStartedAt
		s.CycleEndsAt = e.CycleEndsAt
		s.NextChargeAt = e.NextChargeAt
		s.LastChargeInvoiceID = e.InvoiceID
		if e.FinalCycle {
			s.EndsAt, s.EndsOn = e.EndsAt, e.EndsOn
		}
		s = withLedger(s, e.InvoiceID, func(l *Ledger) {
			l.Cycle = e.Cycle
			l.Amount = e.Amount
		})
	case PaymentReceived:
		s.TotalPaid = e.TotalPaid
		s.Payments = maps.Clone(s.Payments)
		if s.Payments == nil {
			s.Payments = map[domain.PaymentID]domain.InvoiceID{}
		}
		s.Payments[e.PaymentID] = e.InvoiceID
		s = withLedger(s, e.InvoiceID, func(l *Ledger) { l.Paid, _ = l.Paid.Add(e.Amount) })
	case RefundRecorded:
		s.TotalPaid = e.TotalPaid
		s = withLedger(s, e.InvoiceID, func(l *Ledger) { l.Refunded, _ = l.Refunded.Add(e.Amount) })
	case Activated:
		s.Status = StatusActive
		s.ActivatedAt = e.ActivatedAt
		s = e.ChargePosition.apply(s)
	case Recovered:
		s.Status = e.Status
		s.PastDueAt, s.PastDueInvoiceID, s.PastDueFinalAction = time.Time{}, "", ""
		if e.CancellationWithdrawn {
			s.CancelRequestedAt, s.CancelReason, s.CancelCause = time.Time{}, "", ""
		}
		s = e.ChargePosition.apply(s)
	case MarkedPastDue:
		s.Status = StatusPastDue
		s.PastDueAt = e.MarkedAt
		s.PastDueInvoiceID = e.InvoiceID
		s.PastDueFinalAction = e.FinalAction
	case Paused:
		s.Status = StatusPaused
		s.PausedAt = e.PausedAt
	case Resumed:
		s.Status = StatusActive
		s.PausedAt = time.Time{}
		s = e.ChargePosition.apply(s)
		for _, m := range e.Products {
			s = withProduct(s, m.ProductID, func(p *Product) {
				p.NextShipmentOn = m.NextShipmentOn
				p.Schedule = m.Schedule
			})
		}
	case CancelRequested:
		// A past-due subscription stays past_due while its cancellation is
		// scheduled: the cycle is unpaid, so it must not start shipping.
		if s.Status != StatusPastDue {
			s.Status = StatusCanceling
		}
		s.CancelRequestedAt = e.RequestedAt
		s.CancelReason = e.Reason
		s.CancelCause = e.Cause
		s.EndsAt, s.EndsOn = e.EndsAt, e.EndsOn
		s.NextChargeAt = time.Time{}
	case Canceled:
		s.Status = StatusCanceled
		s.CanceledAt = e.CanceledAt
		s.CancelRequestedAt = e.RequestedAt
		s.CancelReason = e.Reason
		s.CancelCause = e.Cause
		s.EndsAt = e.CanceledAt
		s.NextChargeAt = time.Time{}
		s.PausedAt = time.Time{}
	case TermCompleted:
		s.Status = StatusCanceled
		s.CanceledAt = e.EndedAt
		s.EndsAt = e.EndedAt
		s.NextChargeAt = time.Time{}
	}
	return s
}

// withProduct returns s with a copy of its product id changed by f.
func withProduct(s State, id domain.ProductID, f func(*Product)) State {
	i := s.productIndex(id)
	if i < 0 {
		return s
	}
	s.Products = slices.Clone(s.Products)
	f(&s.Products[i])
	return s
}

// withLedger returns s with a copy of the ledger of invoice id changed by f.
func withLedger(s State, id domain.InvoiceID, f func(*Ledger)) State {
	s.Invoices = maps.Clone(s.Invoices)
	if s.Invoices == nil {
		s.Invoices = map[domain.InvoiceID]Ledger{}
	}
	l := s.Invoices[id]
	f(&l)
	s.Invoices[id] = l
	return s
}
