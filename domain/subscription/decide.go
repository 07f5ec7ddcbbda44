package subscription

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/subsd/subsd/domain"
)

// The subscription's business-rule errors, matched with errors.Is.
var (
	// ErrSubscriptionNotFound: the command is for a subscription that does
	// not exist (or names another subscription than the state it is
	// decided against).
	ErrSubscriptionNotFound = domain.NotFound("subscription_not_found", "the subscription does not exist")
	// ErrSubscriptionExists: Create on an id that is taken.
	ErrSubscriptionExists = domain.Conflict("subscription_already_exists", "a subscription with this id already exists")
	// ErrSubscriptionCanceled: a canceled subscription ships, charges and
	// changes nothing; only money (payments, refunds) is still recorded.
	ErrSubscriptionCanceled = domain.Conflict("subscription_canceled", "the subscription is canceled")
	// ErrSubscriptionNotActive: the command needs an active subscription
	// (shipping also accepts canceling; the first charge accepts pending).
	ErrSubscriptionNotActive = domain.Conflict("subscription_not_active", "the subscription is not active")
	// ErrSubscriptionNotPaused: Resume on a subscription that is neither
	// paused nor active.
	ErrSubscriptionNotPaused = domain.Conflict("subscription_not_paused", "the subscription is not paused")
	// ErrProductNotFound: the product is not (or no longer) in the
	// subscription.
	ErrProductNotFound = domain.NotFound("product_not_found", "the product is not in the subscription")
	// ErrProductExists: AddProduct for a product the subscription has.
	ErrProductExists = domain.Conflict("product_already_in_subscription", "the product is already in the subscription")
	// ErrShipmentNotDue: RecordShipmentDue for a date that is not the
	// product's next shipment, or is after today.
	ErrShipmentNotDue = domain.Conflict("shipment_not_due", "the product has no shipment due on that day")
	// ErrShipmentAfterEnd: the shipment falls on or after the day the
	// subscription ends, so it is not part of what was paid.
	ErrShipmentAfterEnd = domain.Conflict("shipment_after_end", "the subscription ends before that shipment")
	// ErrChargeNotDue: RecordChargeDue before next_charge_at.
	ErrChargeNotDue = domain.Conflict("charge_not_due", "the next charge is not due yet")
	// ErrTermCompleted: every cycle of the term has been charged; there is
	// no next charge.
	ErrTermCompleted = domain.Conflict("term_completed", "every cycle of the term has been charged")
	// ErrInvoiceNotFound: MarkPastDue for an invoice that is not a charge
	// of this subscription.
	ErrInvoiceNotFound = domain.NotFound("invoice_not_found", "the invoice is not a charge of this subscription")
	// ErrRefundExceedsPaid: a refund larger than what was paid on the
	// invoice and not yet refunded.
	ErrRefundExceedsPaid = domain.Conflict("refund_exceeds_paid", "a refund cannot exceed what was paid")
	// ErrPeriodNotEnded: CompleteCancellation before ends_at.
	ErrPeriodNotEnded = domain.Conflict("period_not_ended", "the subscription's end has not come yet")
	// ErrNoEndScheduled: CompleteCancellation for a subscription that is
	// neither canceling, nor past due with a cancellation scheduled, nor at
	// the end of its term.
	ErrNoEndScheduled = domain.Conflict("end_not_scheduled", "the subscription has no end scheduled")
)

// Limits on free input.
const (
	// MaxNameLength bounds plan and product names, in characters.
	MaxNameLength = 200
	// MaxReasonLength bounds a cancellation reason, in characters.
	MaxReasonLength = 500
	// MaxTermCycles bounds term_cycles (a century of monthly charges).
	MaxTermCycles = 1200
	// MaxPaymentMethodIDLength bounds a Stripe payment method id.
	MaxPaymentMethodIDLength = 255
)

// Decide answers a command with the events it causes, or an error: a
// validation error (domain.ErrInvalid naming the request field), one of the
// sentinels above, or an internal error for a command a caller built wrong
// (no time, no zone). A command that would change nothing answers (nil,
// nil), as each command's doc says. Decide is pure; instants are recorded in
// UTC.
func Decide(s State, c Command) ([]Event, error) {
	if c, ok := c.(Create); ok {
		return create(s, c)
	}
	t, ok := c.(interface{ target() domain.SubscriptionID })
	if !ok {
		return nil, fmt.Errorf("subscription: unknown command %T", c)
	}
	if !s.Exists() || t.target() != s.ID {
		return nil, ErrSubscriptionNotFound
	}
	switch c := c.(type) {
	case AddProduct:
		return addProduct(s, c)
	case ChangeProductInterval:
		return changeProductInterval(s, c)
	case SetNextShipment:
		return setNextShipment(s, c)
	case ShipNow:
		return shipNow(s, c)
	case SkipShipment:
		return skipShipment(s, c)
	case RemoveProduct:
		return removeProduct(s, c)
	case RecordShipmentDue:
		return recordShipmentDue(s, c)
	case RecordChargeDue:
		return recordChargeDue(s, c)
	case RecordPayment:
		return recordPayment(s, c)
	case RecordRefund:
		return recordRefund(s, c)
	case MarkPastDue:
		return markPastDue(s, c)
	case Pause:
		return pause(s, c)
	case Resume:
		return resume(s, c)
	case Cancel:
		return cancel(s, c)
	case CompleteCancellation:
		return completeCancellation(s, c)
	}
	return nil, fmt.Errorf("subscription: unknown command %T", c)
}

func create(s State, c Create) ([]Event, error) {
	if s.Exists() {
		return nil, ErrSubscriptionExists
	}
	if err := needClock(c.At, c.Location); err != nil {
		return nil, err
	}
	id, err := domain.ParseSubscriptionID(string(c.SubscriptionID))
	if err != nil {
		return nil, err
	}
	customer, err := domain.ParseCustomerID(string(c.CustomerID))
	if err != nil {
		return nil, err
	}
	plan, err := parsePlan(c.Plan)
	if err != nil {
		return nil, err
	}
	var term *int
	if c.TermCycles != nil {
		n := *c.TermCycles
		if n < 1 || n > MaxTermCycles {
			return nil, domain.Invalid("term_cycles", "term_cycles must be between 1 and %d, or null for an open-ended subscription, got %d", MaxTermCycles, n)
		}
		term = &n
	}
	switch c.DeliveryMethod {
	case Delivery, Pickup:
	default:
		return nil, domain.Invalid("delivery_method", "delivery_method must be delivery or pickup, got %q", c.DeliveryMethod)
	}
	pm, err := parsePaymentMethodID(c.PaymentMethodID)
	if err != nil {
		return nil, err
	}
	today := domain.DateIn(c.At, c.Location)
	lines := make([]ProductLine, 0, len(c.Products))
	for i, p := range c.Products {
		prefix := fmt.Sprintf("products[%d]", i)
		l, err := parseProduct(p, plan.Price.Currency(), today)
		if err != nil {
			return nil, domain.PrefixField(prefix, err)
		}
		for _, other := range lines {
			if other.ProductID == l.ProductID {
				return nil, domain.Invalid(prefix+".product_id", "product %s is listed twice", l.ProductID)
			}
		}
		lines = append(lines, l)
	}
	at := c.At.UTC()
	return []Event{Created{
		SubscriptionID:  id,
		CustomerID:      customer,
		Plan:            plan,
		TermCycles:      term,
		DeliveryMethod:  c.DeliveryMethod,
		PaymentMethodID: pm,
		Products:        lines,
		SignedUpAt:      at,
		ChargeAnchorAt:  at,
		NextChargeAt:    at,
		NextCycle:       1,
	}}, nil
}

func addProduct(s State, c AddProduct) ([]Event, error) {
	if err := needDay(c.Today); err != nil {
		return nil, err
	}
	if s.Status == StatusCanceled {
		return nil, ErrSubscriptionCanceled
	}
	l, err := parseProduct(c.Product, s.Plan.Price.Currency(), c.Today)
	if err != nil {
		return nil, err
	}
	if _, ok := s.Product(l.ProductID); ok {
		return nil, ErrProductExists
	}
	return []Event{ProductAdded{SubscriptionID: s.ID, CustomerID: s.CustomerID, Product: l}}, nil
}

func changeProductInterval(s State, c ChangeProductInterval) ([]Event, error) {
	p, err := s.editableProduct(c.ProductID)
	if err != nil {
		return nil, err
	}
	if err := c.Interval.Validate(); err != nil {
		return nil, domain.PrefixField("interval", err)
	}
	if c.Interval == p.Interval {
		return nil, nil
	}
	return []Event{ProductIntervalChanged{
		SubscriptionID: s.ID, CustomerID: s.CustomerID, ProductID: p.ProductID,
		Interval: c.Interval, NextShipmentOn: p.NextShipmentOn,
		Schedule: Schedule{AnchorOn: p.NextShipmentOn},
	}}, nil
}

func setNextShipment(s State, c SetNextShipment) ([]Event, error) {
	if err := needDay(c.Today); err != nil {
		return nil, err
	}
	p, err := s.editableProduct(c.ProductID)
	if err != nil {
		return nil, err
	}
	if !validDate(c.On) {
		return nil, domain.Invalid("next_shipment_on", "next_shipment_on must be a date YYYY-MM-DD")
	}
	if c.On.Before(c.Today) {
		return nil, domain.Invalid("next_shipment_on", "next_shipment_on must not be before today (%s), got %s", c.Today, c.On)
	}
	if c.On == p.NextShipmentOn {
		return nil, nil
	}
	return []Event{NextShipmentSet{
		SubscriptionID: s.ID, CustomerID: s.CustomerID, ProductID: p.ProductID,
		NextShipmentOn: c.On, Schedule: Schedule{AnchorOn: c.On},
	}}, nil
}

func shipNow(s State, c ShipNow) ([]Event, error) {
	if err := needDay(c.Today); err != nil {
		return nil, err
	}
	order, err := domain.ParseOrderID(string(c.OrderID))
	if err != nil {
		return nil, err
	}
	p, ok := s.Product(c.ProductID)
	if !ok {
		return nil, ErrProductNotFound
	}
	if p.LastOrderID == order {
		return nil, nil
	}
	if err := s.ships(); err != nil {
		return nil, err
	}
	if err := s.before(c.Today); err != nil {
		return nil, err
	}
	sched := Schedule{AnchorOn: c.Today, Step: 1}
	return []Event{s.shipmentDue(p, order, c.Today, true, sched)}, nil
}

func recordShipmentDue(s State, c RecordShipmentDue) ([]Event, error) {
	if err := needDay(c.Today); err != nil {
		return nil, err
	}
	order, err := domain.ParseOrderID(string(c.OrderID))
	if err != nil {
		return nil, err
	}
	p, ok := s.Product(c.ProductID)
	if !ok {
		return nil, ErrProductNotFound
	}
	if p.LastOrderID == order {
		return nil, nil
	}
	if err := s.ships(); err != nil {
		return nil, err
	}
	if c.DueOn != p.NextShipmentOn || c.DueOn.After(c.Today) {
		return nil, ErrShipmentNotDue
	}
	if err := s.before(c.DueOn); err != nil {
		return nil, err
	}
	// One interval on; further only when the scheduler is late and that is
	// still not after today, so that a backlog makes one order, not a burst.
	sched := stepFrom(p.Schedule, p.Interval, c.Today, false)
	return []Event{s.shipmentDue(p, order, c.DueOn, false, sched)}, nil
}

func (s State) shipmentDue(p Product, order domain.OrderID, due domain.Date, now bool, sched Schedule) ShipmentDue {
	return ShipmentDue{
		SubscriptionID: s.ID, CustomerID: s.CustomerID, ProductID: p.ProductID, OrderID: order,
		DueOn: due, ShipNow: now, Name: p.Name, Quantity: p.Quantity, UnitPrice: p.Price,
		DeliveryMethod: s.DeliveryMethod,
		NextShipmentOn: domain.Nth(sched.AnchorOn, p.Interval, sched.Step), Schedule: sched,
	}
}

func skipShipment(s State, c SkipShipment) ([]Event, error) {
	p, err := s.editableProduct(c.ProductID)
	if err != nil {
		return nil, err
	}
	sched := Schedule{AnchorOn: p.Schedule.AnchorOn, Step: p.Schedule.Step + 1}
	return []Event{ShipmentSkipped{
		SubscriptionID: s.ID, CustomerID: s.CustomerID, ProductID: p.ProductID,
		SkippedOn: p.NextShipmentOn, NextShipmentOn: domain.Nth(sched.AnchorOn, p.Interval, sched.Step), Schedule: sched,
	}}, nil
}

func removeProduct(s State, c RemoveProduct) ([]Event, error) {
	p, err := s.editableProduct(c.ProductID)
	if err != nil {
		return nil, err
	}
	return []Event{ProductRemoved{SubscriptionID: s.ID, CustomerID: s.CustomerID, ProductID: p.ProductID, Name: p.Name}}, nil
}

func recordChargeDue(s State, c RecordChargeDue) ([]Event, error) {
	if err := needClock(c.At, c.Location); err != nil {
		return nil, err
	}
	invoice, err := domain.ParseInvoiceID(string(c.InvoiceID))
	if err != nil {
		return nil, err
	}
	if s.Invoices[invoice].Cycle > 0 {
		return nil, nil
	}
	switch {
	case s.Status == StatusActive:
	case s.Status == StatusPending && s.Cycle == 0:
	case s.Status == StatusCanceled:
		return nil, ErrSubscriptionCanceled
	default:
		return nil, ErrSubscriptionNotActive
	}
	if s.NextChargeAt.IsZero() {
		return nil, ErrTermCompleted
	}
	if c.At.Before(s.NextChargeAt) {
		return nil, ErrChargeNotDue
	}
	cycle, slot := s.Cycle+1, s.ChargeSlot+1
	end := domain.NthInstant(s.ChargeAnchorAt, c.Location, s.Plan.Interval, slot)
	e := ChargeDue{
		SubscriptionID: s.ID, CustomerID: s.CustomerID, InvoiceID: invoice, Cycle: cycle,
		Amount: s.Plan.Price, PlanName: s.Plan.Name, PaymentMethodID: s.PaymentMethodID,
		DueAt: s.NextChargeAt, CycleStartedAt: s.NextChargeAt, CycleEndsAt: end, ChargeSlot: slot,
	}
	if s.TermCycles > 0 && cycle >= s.TermCycles {
		e.FinalCycle, e.EndsAt, e.EndsOn = true, end, domain.DateIn(end, c.Location)
	} else {
		e.NextChargeAt = end
	}
	return []Event{e}, nil
}

func recordPayment(s State, c RecordPayment) ([]Event, error) {
	if err := needClock(c.At, c.Location); err != nil {
		return nil, err
	}
	invoice, err := domain.ParseInvoiceID(string(c.InvoiceID))
	if err != nil {
		return nil, err
	}
	payment, err := domain.ParsePaymentID(string(c.PaymentID))
	if err != nil {
		return nil, err
	}
	if err := checkAmount("amount", c.Amount, s.Plan.Price.Currency()); err != nil {
		return nil, err
	}
	if _, seen := s.Payments[payment]; seen {
		return nil, nil
	}
	total, err := s.TotalPaid.Add(c.Amount)
	if err != nil {
		return nil, domain.PrefixField("amount", err)
	}
	at := c.At.UTC()
	events := []Event{PaymentReceived{
		SubscriptionID: s.ID, CustomerID: s.CustomerID, InvoiceID: invoice, PaymentID: payment,
		Amount: c.Amount, PaidAt: at, TotalPaid: total,
	}}
	isCharge := s.Invoices[invoice].Cycle > 0
	switch {
	case s.Status == StatusPending && isCharge:
		events = append(events, Activated{
			SubscriptionID: s.ID, CustomerID: s.CustomerID, InvoiceID: invoice, ActivatedAt: at,
			ChargePosition: s.openPosition(at, c.Location),
		})
	case s.Status == StatusPastDue && invoice == s.PastDueInvoiceID:
		r := Recovered{SubscriptionID: s.ID, CustomerID: s.CustomerID, InvoiceID: invoice, RecoveredAt: at, Status: StatusActive}
		if !s.CancelRequestedAt.IsZero() && s.CancelCause == CauseRequested {
			// The customer asked to cancel: that stands.
			r.Status, r.ChargePosition = StatusCanceling, s.position()
		} else {
			r.CancellationWithdrawn = !s.CancelRequestedAt.IsZero()
			r.ChargePosition = s.openPosition(at, c.Location)
		}
		if s.ActivatedAt.IsZero() {
			// Past due on its first charge: this payment is also the
			// activation. Activated comes first so that Recovered sets the
			// final status.
			events = append(events, Activated{
				SubscriptionID: s.ID, CustomerID: s.CustomerID, InvoiceID: invoice, ActivatedAt: at,
				ChargePosition: r.ChargePosition,
			})
		}
		events = append(events, r)
	}
	return events, nil
}

func recordRefund(s State, c RecordRefund) ([]Event, error) {
	if err := needTime(c.At); err != nil {
		return nil, err
	}
	invoice, err := domain.ParseInvoiceID(string(c.InvoiceID))
	if err != nil {
		return nil, err
	}
	if err := checkAmount("amount", c.Amount, s.Plan.Price.Currency()); err != nil {
		return nil, err
	}
	l := s.Invoices[invoice]
	refundable, err := l.Paid.Sub(l.Refunded)
	if err != nil {
		return nil, err
	}
	if over, err := c.Amount.Cmp(refundable); err != nil || over > 0 {
		return nil, ErrRefundExceedsPaid
	}
	total, err := s.TotalPaid.Sub(c.Amount)
	if err != nil || total.IsNegative() {
		return nil, ErrRefundExceedsPaid
	}
	return []Event{RefundRecorded{
		SubscriptionID: s.ID, CustomerID: s.CustomerID, InvoiceID: invoice,
		Amount: c.Amount, RefundedAt: c.At.UTC(), TotalPaid: total,
	}}, nil
}

func markPastDue(s State, c MarkPastDue) ([]Event, error) {
	if err := needClock(c.At, c.Location); err != nil {
		return nil, err
	}
	invoice, err := domain.ParseInvoiceID(string(c.InvoiceID))
	if err != nil {
		return nil, err
	}
	action := c.FinalAction
	switch action {
	case "":
		action = FinalActionCancelAtPeriodEnd
	case FinalActionCancelAtPeriodEnd, FinalActionCancelNow, FinalActionNone:
	default:
		return nil, domain.Invalid("final_action", "final_action must be cancel_at_period_end, cancel_now or none, got %q", action)
	}
	switch s.Status {
	case StatusCanceled:
		return nil, ErrSubscriptionCanceled
	case StatusPastDue:
		return nil, nil
	}
	if s.Invoices[invoice].Cycle == 0 {
		return nil, ErrInvoiceNotFound
	}
	at := c.At.UTC()
	events := []Event{MarkedPastDue{SubscriptionID: s.ID, CustomerID: s.CustomerID, InvoiceID: invoice, MarkedAt: at, FinalAction: action}}
	cancelNow := Canceled{
		SubscriptionID: s.ID, CustomerID: s.CustomerID, CanceledAt: at, RequestedAt: at,
		Reason: ReasonPaymentFailed, Cause: CauseNonPayment,
	}
	switch action {
	case FinalActionCancelNow:
		events = append(events, cancelNow)
	case FinalActionCancelAtPeriodEnd:
		switch {
		case !s.CancelRequestedAt.IsZero():
			// Already canceling at the end of the period: that end stands.
		case s.CycleEndsAt.After(at):
			events = append(events, CancelRequested{
				SubscriptionID: s.ID, CustomerID: s.CustomerID, RequestedAt: at,
				EndsAt: s.CycleEndsAt, EndsOn: domain.DateIn(s.CycleEndsAt, c.Location),
				Reason: ReasonPaymentFailed, Cause: CauseNonPayment,
			})
		default:
			events = append(events, cancelNow)
		}
	}
	return events, nil
}

func pause(s State, c Pause) ([]Event, error) {
	if err := needTime(c.At); err != nil {
		return nil, err
	}
	switch s.Status {
	case StatusActive:
	case StatusPaused:
		return nil, nil
	case StatusCanceled:
		return nil, ErrSubscriptionCanceled
	default:
		return nil, ErrSubscriptionNotActive
	}
	return []Event{Paused{SubscriptionID: s.ID, CustomerID: s.CustomerID, PausedAt: c.At.UTC()}}, nil
}

func resume(s State, c Resume) ([]Event, error) {
	if err := needClock(c.At, c.Location); err != nil {
		return nil, err
	}
	switch s.Status {
	case StatusPaused:
	case StatusActive:
		return nil, nil
	case StatusCanceled:
		return nil, ErrSubscriptionCanceled
	default:
		return nil, ErrSubscriptionNotPaused
	}
	at := c.At.UTC()
	today := domain.DateIn(c.At, c.Location)
	var moves []ProductMove
	for _, p := range s.Products {
		if p.NextShipmentOn.Before(today) {
			sched := stepFrom(p.Schedule, p.Interval, today, true)
			moves = append(moves, ProductMove{
				ProductID: p.ProductID, NextShipmentOn: domain.Nth(sched.AnchorOn, p.Interval, sched.Step), Schedule: sched,
			})
		}
	}
	return []Event{Resumed{
		SubscriptionID: s.ID, CustomerID: s.CustomerID, ResumedAt: at,
		ChargePosition: s.openPosition(at, c.Location), Products: moves,
	}}, nil
}

func cancel(s State, c Cancel) ([]Event, error) {
	if err := needClock(c.At, c.Location); err != nil {
		return nil, err
	}
	reason, err := parseOptionalText("reason", c.Reason, MaxReasonLength)
	if err != nil {
		return nil, err
	}
	if s.Status == StatusCanceled {
		return nil, nil
	}
	at := c.At.UTC()
	now := []Event{Canceled{
		SubscriptionID: s.ID, CustomerID: s.CustomerID, CanceledAt: at, RequestedAt: at,
		Reason: reason, Cause: CauseRequested,
	}}
	if !c.AtPeriodEnd {
		return now, nil
	}
	scheduled := !s.CancelRequestedAt.IsZero()
	switch {
	case s.Status == StatusCanceling, scheduled && s.CancelCause == CauseRequested:
		return nil, nil
	case s.Status == StatusPending, s.Status == StatusPaused:
		// No running period to finish: nothing ships or charges in either.
		return now, nil
	case scheduled:
		// Past due with a cancellation scheduled for non-payment: the end
		// stays, but it is now the customer's, so paying up no longer
		// withdraws it.
		return []Event{CancelRequested{
			SubscriptionID: s.ID, CustomerID: s.CustomerID, RequestedAt: at,
			EndsAt: s.EndsAt, EndsOn: s.EndsOn, Reason: reason, Cause: CauseRequested,
		}}, nil
	case !s.CycleEndsAt.After(at):
		return now, nil
	}
	return []Event{CancelRequested{
		SubscriptionID: s.ID, CustomerID: s.CustomerID, RequestedAt: at,
		EndsAt: s.CycleEndsAt, EndsOn: domain.DateIn(s.CycleEndsAt, c.Location), Reason: reason, Cause: CauseRequested,
	}}, nil
}

func completeCancellation(s State, c CompleteCancellation) ([]Event, error) {
	if err := needTime(c.At); err != nil {
		return nil, err
	}
	switch {
	case s.Status == StatusCanceled:
		return nil, nil
	case s.Status == StatusPaused:
		// A pause freezes the term; Resume moves its end.
		return nil, ErrSubscriptionNotActive
	case !s.CancelRequestedAt.IsZero():
		if c.At.Before(s.EndsAt) {
			return nil, ErrPeriodNotEnded
		}
		return []Event{Canceled{
			SubscriptionID: s.ID, CustomerID: s.CustomerID, CanceledAt: s.EndsAt, RequestedAt: s.CancelRequestedAt,
			AtPeriodEnd: true, Reason: s.CancelReason, Cause: s.CancelCause,
		}}, nil
	case s.TermDone() && (s.Status == StatusActive || s.Status == StatusPastDue):
		if c.At.Before(s.EndsAt) {
			return nil, ErrPeriodNotEnded
		}
		return []Event{TermCompleted{SubscriptionID: s.ID, CustomerID: s.CustomerID, EndedAt: s.EndsAt, Cycles: s.Cycle}}, nil
	}
	return nil, ErrNoEndScheduled
}

// ships checks the status rule for shipping: only an active subscription
// ships (API.md: "a subscription that is not active ships nothing"). A
// canceling subscription has asked to stop, so it answers as canceled.
func (s State) ships() error {
	switch s.Status {
	case StatusActive:
		return nil
	case StatusCanceled, StatusCanceling:
		return ErrSubscriptionCanceled
	}
	return ErrSubscriptionNotActive
}

// before checks that day is before the day a scheduled end takes effect.
func (s State) before(day domain.Date) error {
	if !s.EndsOn.IsZero() && !day.Before(s.EndsOn) {
		return ErrShipmentAfterEnd
	}
	return nil
}

// editableProduct returns a product whose schedule may be edited: on any
// subscription that is not canceled.
func (s State) editableProduct(id domain.ProductID) (Product, error) {
	if s.Status == StatusCanceled {
		return Product{}, ErrSubscriptionCanceled
	}
	p, ok := s.Product(id)
	if !ok {
		return Product{}, ErrProductNotFound
	}
	return p, nil
}

// position is the charge position as it stands.
func (s State) position() ChargePosition {
	return ChargePosition{ChargeSlot: s.ChargeSlot, CycleEndsAt: s.CycleEndsAt, NextChargeAt: s.NextChargeAt, EndsAt: s.EndsAt, EndsOn: s.EndsOn}
}

// openPosition is the charge position of a subscription that charges again
// from at (activated, recovered, resumed), with no cancellation scheduled:
// if the current cycle ended before at, the next charge moves to the first
// slot of the charge schedule on or after at (the current cycle runs until
// then); after a term's last cycle that slot is the end instead.
func (s State) openPosition(at time.Time, loc *time.Location) ChargePosition {
	if s.Cycle == 0 {
		return s.position()
	}
	p := ChargePosition{ChargeSlot: s.ChargeSlot, CycleEndsAt: s.CycleEndsAt}
	for p.CycleEndsAt.Before(at) {
		p.ChargeSlot++
		p.CycleEndsAt = domain.NthInstant(s.ChargeAnchorAt, loc, s.Plan.Interval, p.ChargeSlot)
	}
	if s.TermDone() {
		p.EndsAt, p.EndsOn = p.CycleEndsAt, domain.DateIn(p.CycleEndsAt, loc)
	} else {
		p.NextChargeAt = p.CycleEndsAt
	}
	return p
}

// stepFrom returns the first step of sched after its current one whose date
// is after day (or on it, when onDay).
func stepFrom(sched Schedule, iv domain.Interval, day domain.Date, onDay bool) Schedule {
	for step := sched.Step + 1; ; step++ {
		d := domain.Nth(sched.AnchorOn, iv, step)
		if d.After(day) || (onDay && d == day) {
			return Schedule{AnchorOn: sched.AnchorOn, Step: step}
		}
	}
}

func parsePlan(p Plan) (Plan, error) {
	name, err := parseText("plan.name", p.Name, MaxNameLength)
	if err != nil {
		return Plan{}, err
	}
	if p.Price.Currency() == "" {
		return Plan{}, domain.Invalid("plan.price", "plan.price is required")
	}
	if !p.Price.IsPositive() {
		return Plan{}, domain.Invalid("plan.price.amount", "plan.price must be above zero")
	}
	if err := p.Interval.Validate(); err != nil {
		return Plan{}, domain.PrefixField("plan.interval", err)
	}
	return Plan{Name: name, Price: p.Price, Interval: p.Interval}, nil
}

// parseProduct validates a product against the plan's currency and today,
// with field names relative to the product.
func parseProduct(p NewProduct, currency domain.Currency, today domain.Date) (ProductLine, error) {
	id, err := domain.ParseProductID(string(p.ProductID))
	if err != nil {
		return ProductLine{}, err
	}
	name, err := parseText("name", p.Name, MaxNameLength)
	if err != nil {
		return ProductLine{}, err
	}
	if p.Quantity < 1 {
		return ProductLine{}, domain.Invalid("quantity", "quantity must be at least 1, got %d", p.Quantity)
	}
	if err := p.Interval.Validate(); err != nil {
		return ProductLine{}, domain.PrefixField("interval", err)
	}
	if !validDate(p.FirstShipmentOn) {
		return ProductLine{}, domain.Invalid("first_shipment_on", "first_shipment_on must be a date YYYY-MM-DD")
	}
	if p.FirstShipmentOn.Before(today) {
		return ProductLine{}, domain.Invalid("first_shipment_on", "first_shipment_on must not be before today (%s), got %s", today, p.FirstShipmentOn)
	}
	var price *domain.Money
	if p.Price != nil {
		if err := checkAmount("price", *p.Price, currency); err != nil {
			return ProductLine{}, err
		}
		v := *p.Price
		price = &v
	}
	return ProductLine{
		ProductID: id, Name: name, Quantity: p.Quantity, Interval: p.Interval, Price: price,
		NextShipmentOn: p.FirstShipmentOn, Schedule: Schedule{AnchorOn: p.FirstShipmentOn},
	}, nil
}

// checkAmount requires a positive amount in currency.
func checkAmount(field string, m domain.Money, currency domain.Currency) error {
	switch {
	case m.Currency() == "":
		return domain.Invalid(field, "%s is required", field)
	case m.Currency() != currency:
		return domain.ErrCurrencyMismatch.WithField(field + ".currency")
	case !m.IsPositive():
		return domain.Invalid(field+".amount", "%s must be above zero", field)
	}
	return nil
}

func parsePaymentMethodID(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if len(s) > MaxPaymentMethodIDLength || strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return "", domain.Invalid("payment_method_id", "payment_method_id must be a Stripe id of at most %d printable ASCII characters", MaxPaymentMethodIDLength)
	}
	return s, nil
}

// parseText trims v and requires 1 to max characters of valid text without
// control characters.
func parseText(field, v string, max int) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", domain.Invalid(field, "%s is required", field)
	}
	return parseOptionalText(field, v, max)
}

// parseOptionalText is parseText that accepts "".
func parseOptionalText(field, v string, max int) (string, error) {
	v = strings.TrimSpace(v)
	switch {
	case !utf8.ValidString(v) || utf8.RuneCountInString(v) > max:
		return "", domain.Invalid(field, "%s must be valid text of at most %d characters", field, max)
	case strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "", domain.Invalid(field, "%s must not contain control characters", field)
	}
	return v, nil
}

// validDate reports whether d is a day that exists (not zero, not Feb 30).
func validDate(d domain.Date) bool {
	return !d.IsZero() && domain.DateOf(d.Time(time.UTC)) == d
}

// errNoTime and friends are caller bugs, not client errors: they have no
// code, so the HTTP layer reports them as internal.
var (
	errNoTime = errors.New("subscription: the command carries no time")
	errNoZone = errors.New("subscription: the command carries no business time zone")
	errNoDay  = errors.New("subscription: the command carries no business day (Today)")
)

func needTime(at time.Time) error {
	if at.IsZero() {
		return errNoTime
	}
	return nil
}

func needClock(at time.Time, loc *time.Location) error {
	if loc == nil {
		return errNoZone
	}
	return needTime(at)
}

func needDay(d domain.Date) error {
	if !validDate(d) {
		return errNoDay
	}
	return nil
}
