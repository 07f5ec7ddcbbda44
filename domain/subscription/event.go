package subscription

import (
	"time"

	"github.com/subsd/subsd/domain"
)

// Event is the closed set of subscription events. Every event carries the
// subscription and customer ids (so that a policy, such as the email one,
// needs no other state to address the customer) and every value needed to
// evolve the state: dates are computed by Decide and recorded, never
// recomputed. Instants are UTC.
type Event interface {
	domain.Event
	isEvent()
}

// ProductLine is a product as an event records it.
type ProductLine struct {
	ProductID domain.ProductID `json:"product_id"`
	Name      string           `json:"name"`
	Quantity  int              `json:"quantity"`
	Interval  domain.Interval  `json:"interval"`
	// Price is absent for a product included in the plan; a priced product's
	// shipments are invoiced at Price × Quantity.
	Price          *domain.Money `json:"price,omitempty"`
	NextShipmentOn domain.Date   `json:"next_shipment_on"`
	Schedule       Schedule      `json:"schedule"`
}

func (l ProductLine) product() Product {
	return Product{
		ProductID: l.ProductID, Name: l.Name, Quantity: l.Quantity, Interval: l.Interval,
		Price: l.Price, NextShipmentOn: l.NextShipmentOn, Schedule: l.Schedule,
	}
}

// ChargePosition is where the charge schedule stands after an event that
// may move it (activation, recovery, resume): the slot of the next charge,
// the end of the current cycle, the next charge (absent when none follows)
// and a scheduled end (absent when none).
type ChargePosition struct {
	ChargeSlot   int         `json:"charge_slot"`
	CycleEndsAt  time.Time   `json:"cycle_ends_at,omitzero"`
	NextChargeAt time.Time   `json:"next_charge_at,omitzero"`
	EndsAt       time.Time   `json:"ends_at,omitzero"`
	EndsOn       domain.Date `json:"ends_on,omitzero"`
}

func (c ChargePosition) apply(s State) State {
	s.ChargeSlot, s.CycleEndsAt, s.NextChargeAt, s.EndsAt, s.EndsOn = c.ChargeSlot, c.CycleEndsAt, c.NextChargeAt, c.EndsAt, c.EndsOn
	return s
}

// Created: the subscription exists, pending its first charge, which is due
// at once: NextChargeAt is SignedUpAt, for cycle NextCycle (1). TermCycles is
// absent for an open-ended subscription. The subscription_confirmation email
// is planned from this event.
type Created struct {
	SubscriptionID  domain.SubscriptionID `json:"subscription_id"`
	CustomerID      domain.CustomerID     `json:"customer_id"`
	Plan            Plan                  `json:"plan"`
	TermCycles      *int                  `json:"term_cycles,omitempty"`
	DeliveryMethod  DeliveryMethod        `json:"delivery_method"`
	PaymentMethodID string                `json:"payment_method_id,omitempty"`
	Products        []ProductLine         `json:"products"`
	SignedUpAt      time.Time             `json:"signed_up_at"`
	// ChargeAnchorAt is slot 0 of the charge schedule.
	ChargeAnchorAt time.Time `json:"charge_anchor_at"`
	NextChargeAt   time.Time `json:"next_charge_at"`
	NextCycle      int       `json:"next_cycle"`
}

// ProductAdded: a product joined the subscription.
type ProductAdded struct {
	SubscriptionID domain.SubscriptionID `json:"subscription_id"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	Product        ProductLine           `json:"product"`
}

// ProductIntervalChanged: the product ships every Interval from now on. Its
// next shipment keeps its date and becomes the schedule's new anchor.
type ProductIntervalChanged struct {
	SubscriptionID domain.SubscriptionID `json:"subscription_id"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	ProductID      domain.ProductID      `json:"product_id"`
	Interval       domain.Interval       `json:"interval"`
	NextShipmentOn domain.Date           `json:"next_shipment_on"`
	Schedule       Schedule              `json:"schedule"`
}

// NextShipmentSet: the product's next shipment was set by hand; the
// schedule is re-anchored on it.
type NextShipmentSet struct {
	SubscriptionID domain.SubscriptionID `json:"subscription_id"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	ProductID      domain.ProductID      `json:"product_id"`
	NextShipmentOn domain.Date           `json:"next_shipment_on"`
	Schedule       Schedule              `json:"schedule"`
}

// ShipmentSkipped: the shipment due on SkippedOn will not be made; the next
// one is one step on.
type ShipmentSkipped struct {
	SubscriptionID domain.SubscriptionID `json:"subscription_id"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	ProductID      domain.ProductID      `json:"product_id"`
	SkippedOn      domain.Date           `json:"skipped_on"`
	NextShipmentOn domain.Date           `json:"next_shipment_on"`
	Schedule       Schedule              `json:"schedule"`
}

// ProductRemoved: the product left the subscription.
type ProductRemoved struct {
	SubscriptionID domain.SubscriptionID `json:"subscription_id"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	ProductID      domain.ProductID      `json:"product_id"`
	Name           string                `json:"name"`
}

// ShipmentDue: an order is due for a product, under OrderID (which the
// order aggregate creates from this event, with the order_confirmation
// email). It carries what the order needs: the product line (UnitPrice
// absent when the product is included in the plan, so the order is not
// invoiced) and the delivery method. ShipNow is true when it was asked for
// by hand (DueOn is then that day). The product's next shipment moves to
// NextShipmentOn.
type ShipmentDue struct {
	SubscriptionID domain.SubscriptionID `json:"subscription_id"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	ProductID      domain.ProductID      `json:"product_id"`
	OrderID        domain.OrderID        `json:"order_id"`
	DueOn          domain.Date           `json:"due_on"`
	ShipNow        bool                  `json:"ship_now,omitempty"`
	Name           string                `json:"name"`
	Quantity       int                   `json:"quantity"`
	UnitPrice      *domain.Money         `json:"unit_price,omitempty"`
	DeliveryMethod DeliveryMethod        `json:"delivery_method"`
	NextShipmentOn domain.Date           `json:"next_shipment_on"`
	Schedule       Schedule              `json:"schedule"`
}

// ChargeDue: cycle Cycle is charged Amount (the plan price) on InvoiceID,
// which the invoice aggregate creates and numbers from this event. The cycle
// runs from CycleStartedAt (its scheduled slot, DueAt) to CycleEndsAt. The
// next charge is NextChargeAt (the charge_reminder email is planned before
// it); after the last cycle of a term there is none: FinalCycle is set and
// the subscription ends at EndsAt (business day EndsOn).
type ChargeDue struct {
	SubscriptionID  domain.SubscriptionID `json:"subscription_id"`
	CustomerID      domain.CustomerID     `json:"customer_id"`
	InvoiceID       domain.InvoiceID      `json:"invoice_id"`
	Cycle           int                   `json:"cycle"`
	Amount          domain.Money          `json:"amount"`
	PlanName        string                `json:"plan_name"`
	PaymentMethodID string                `json:"payment_method_id,omitempty"`
	DueAt           time.Time             `json:"due_at"`
	CycleStartedAt  time.Time             `json:"cycle_started_at"`
	CycleEndsAt     time.Time             `json:"cycle_ends_at"`
	ChargeSlot      int                   `json:"charge_slot"`
	NextChargeAt    time.Time             `json:"next_charge_at,omitzero"`
	FinalCycle      bool                  `json:"final_cycle,omitempty"`
	EndsAt          time.Time             `json:"ends_at,omitzero"`
	EndsOn          domain.Date           `json:"ends_on,omitzero"`
}

// PaymentReceived: Amount was paid on InvoiceID by PaymentID; TotalPaid is
// the subscription's total after it.
type PaymentReceived struct {
	SubscriptionID domain.SubscriptionID `json:"subscription_id"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	InvoiceID      domain.InvoiceID      `json:"invoice_id"`
	PaymentID      domain.PaymentID      `json:"payment_id"`
	Amount         domain.Money          `json:"amount"`
	PaidAt         time.Time             `json:"paid_at"`
	TotalPaid      domain.Money          `json:"total_paid"`
}

// RefundRecorded: Amount of InvoiceID was refunded; TotalPaid is the
// subscription's total after it.
type RefundRecorded struct {
	SubscriptionID domain.SubscriptionID `json:"subscription_id"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	InvoiceID      domain.InvoiceID      `json:"invoice_id"`
	Amount         domain.Money          `json:"amount"`
	RefundedAt     time.Time             `json:"refunded_at"`
	TotalPaid      domain.Money          `json:"total_paid"`
}

// Activated: the first charge (InvoiceID) is paid; the subscription is
// active. The charge position is recorded because a payment that comes
// later than the next slot moves the next charge as a resume would.
type Activated struct {
	SubscriptionID domain.SubscriptionID `json:"subscription_id"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	InvoiceID      domain.InvoiceID      `json:"invoice_id"`
	ActivatedAt    time.Time             `json:"activated_at"`
	ChargePosition
}

// Recovered: the invoice that made the subscription past_due is paid after
// all. Status is active, or canceling when the customer had asked to cancel;
// a cancellation scheduled only for the missed payment is withdrawn
// (CancellationWithdrawn).
type Recovered struct {
	SubscriptionID        domain.SubscriptionID `json:"subscription_id"`
	CustomerID            domain.CustomerID     `json:"customer_id"`
	InvoiceID             domain.InvoiceID      `json:"invoice_id"`
	RecoveredAt           time.Time             `json:"recovered_at"`
	Status                Status                `json:"status"`
	CancellationWithdrawn bool                  `json:"cancellation_withdrawn,omitempty"`
	ChargePosition
}

// MarkedPastDue: InvoiceID's last retry failed. FinalAction is the
// configured consequence, applied by the events that follow this one in the
// same decision (CancelRequested or Canceled, or none).
type MarkedPastDue struct {
	SubscriptionID domain.SubscriptionID `json:"subscription_id"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	InvoiceID      domain.InvoiceID      `json:"invoice_id"`
	MarkedAt       time.Time             `json:"marked_at"`
	FinalAction    FinalAction           `json:"final_action"`
}

// Paused: charges and shipments stop until Resumed.
type Paused struct {
	SubscriptionID domain.SubscriptionID `json:"subscription_id"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	PausedAt       time.Time             `json:"paused_at"`
}

// ProductMove is a product's next shipment moved by a resume.
type ProductMove struct {
	ProductID      domain.ProductID `json:"product_id"`
	NextShipmentOn domain.Date      `json:"next_shipment_on"`
	Schedule       Schedule         `json:"schedule"`
}

// Resumed: the subscription is active again. What fell in the pause moved
// to the first schedule date on or after the resume: the charge position
// (unchanged when the next charge was still ahead) and Products (only the
// products that moved).
type Resumed struct {
	SubscriptionID domain.SubscriptionID `json:"subscription_id"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	ResumedAt      time.Time             `json:"resumed_at"`
	ChargePosition
	Products []ProductMove `json:"products,omitempty"`
}

// CancelRequested: the subscription will end at EndsAt (the end of the
// current cycle; EndsOn is that instant's business day) and charges no more.
// The status becomes canceling, except on a past_due subscription, which
// stays past_due (its cycle is unpaid, so it does not ship). The
// cancellation_confirmation email is planned from this event.
type CancelRequested struct {
	SubscriptionID domain.SubscriptionID `json:"subscription_id"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	RequestedAt    time.Time             `json:"requested_at"`
	EndsAt         time.Time             `json:"ends_at"`
	EndsOn         domain.Date           `json:"ends_on"`
	Reason         string                `json:"reason,omitempty"`
	Cause          CancelCause           `json:"cause"`
}

// Canceled: the subscription is over since CanceledAt. AtPeriodEnd is set
// when it completes a cancellation requested at RequestedAt for the end of
// the period; otherwise it was canceled at once and RequestedAt is
// CanceledAt.
type Canceled struct {
	SubscriptionID domain.SubscriptionID `json:"subscription_id"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	CanceledAt     time.Time             `json:"canceled_at"`
	RequestedAt    time.Time             `json:"requested_at"`
	AtPeriodEnd    bool                  `json:"at_period_end,omitempty"`
	Reason         string                `json:"reason,omitempty"`
	Cause          CancelCause           `json:"cause"`
}

// TermCompleted: the last of the term's Cycles ran out at EndedAt; the
// subscription is over (status canceled, canceled_at EndedAt).
type TermCompleted struct {
	SubscriptionID domain.SubscriptionID `json:"subscription_id"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	EndedAt        time.Time             `json:"ended_at"`
	Cycles         int                   `json:"cycles"`
}

// The stored type names. Written by hand: renaming one is a data migration.

// EventType returns "subscription.created".
func (Created) EventType() string { return "subscription.created" }

// EventType returns "subscription.product_added".
func (ProductAdded) EventType() string { return "subscription.product_added" }

// EventType returns "subscription.product_interval_changed".
func (ProductIntervalChanged) EventType() string { return "subscription.product_interval_changed" }

// EventType returns "subscription.next_shipment_set".
func (NextShipmentSet) EventType() string { return "subscription.next_shipment_set" }

// EventType returns "subscription.shipment_skipped".
func (ShipmentSkipped) EventType() string { return "subscription.shipment_skipped" }

// EventType returns "subscription.product_removed".
func (ProductRemoved) EventType() string { return "subscription.product_removed" }

// EventType returns "subscription.shipment_due".
func (ShipmentDue) EventType() string { return "subscription.shipment_due" }

// EventType returns "subscription.charge_due".
func (ChargeDue) EventType() string { return "subscription.charge_due" }

// EventType returns "subscription.payment_received".
func (PaymentReceived) EventType() string { return "subscription.payment_received" }

// EventType returns "subscription.refund_recorded".
func (RefundRecorded) EventType() string { return "subscription.refund_recorded" }

// EventType returns "subscription.activated".
func (Activated) EventType() string { return "subscription.activated" }

// EventType returns "subscription.recovered".
func (Recovered) EventType() string { return "subscription.recovered" }

// EventType returns "subscription.marked_past_due".
func (MarkedPastDue) EventType() string { return "subscription.marked_past_due" }

// EventType returns "subscription.paused".
func (Paused) EventType() string { return "subscription.paused" }

// EventType returns "subscription.resumed".
func (Resumed) EventType() string { return "subscription.resumed" }

// EventType returns "subscription.cancel_requested".
func (CancelRequested) EventType() string { return "subscription.cancel_requested" }

// EventType returns "subscription.canceled".
func (Canceled) EventType() string { return "subscription.canceled" }

// EventType returns "subscription.term_completed".
func (TermCompleted) EventType() string { return "subscription.term_completed" }

func (Created) isEvent()                {}
func (ProductAdded) isEvent()           {}
func (ProductIntervalChanged) isEvent() {}
func (NextShipmentSet) isEvent()        {}
func (ShipmentSkipped) isEvent()        {}
func (ProductRemoved) isEvent()         {}
func (ShipmentDue) isEvent()            {}
func (ChargeDue) isEvent()              {}
func (PaymentReceived) isEvent()        {}
func (RefundRecorded) isEvent()         {}
func (Activated) isEvent()              {}
func (Recovered) isEvent()              {}
func (MarkedPastDue) isEvent()          {}
func (Paused) isEvent()                 {}
func (Resumed) isEvent()                {}
func (CancelRequested) isEvent()        {}
func (Canceled) isEvent()               {}
func (TermCompleted) isEvent()          {}

// Codec stores and loads subscription events.
var Codec = domain.NewCodec[Event]()

func init() {
	domain.Register[Created](Codec)
	domain.Register[ProductAdded](Codec)
	domain.Register[ProductIntervalChanged](Codec)
	domain.Register[NextShipmentSet](Codec)
	domain.Register[ShipmentSkipped](Codec)
	domain.Register[ProductRemoved](Codec)
	domain.Register[ShipmentDue](Codec)
	domain.Register[ChargeDue](Codec)
	domain.Register[PaymentReceived](Codec)
	domain.Register[RefundRecorded](Codec)
	domain.Register[Activated](Codec)
	domain.Register[Recovered](Codec)
	domain.Register[MarkedPastDue](Codec)
	domain.Register[Paused](Codec)
	domain.Register[Resumed](Codec)
	domain.Register[CancelRequested](Codec)
	domain.Register[Canceled](Codec)
	domain.Register[TermCompleted](Codec)
}
