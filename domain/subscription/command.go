package subscription

import (
	"time"

	"github.com/subsd/subsd/domain"
)

// Command is the closed set of things that can be asked of a subscription.
// Every command names its subscription (a command for another subscription
// than the state it is decided against is ErrSubscriptionNotFound). Time
// arrives in the command: At for an instant, Today for a calendar day in the
// business zone, and Location (the business zone, never nil) where Decide
// computes business-zone dates from an instant; Today is then the day of At
// in Location.
type Command interface{ isCommand() }

// NewProduct is a product as a request gives it. FirstShipmentOn is the
// first day it ships (today or later); Price is nil for a product included
// in the plan. Validation errors name the request's fields: product_id,
// name, quantity, interval.unit, interval.count, first_shipment_on,
// price.amount, price.currency (prefixed with products[i] in Create).
type NewProduct struct {
	ProductID       domain.ProductID
	Name            string
	Quantity        int
	Interval        domain.Interval
	FirstShipmentOn domain.Date
	Price           *domain.Money
}

// Create starts a pending subscription whose first charge is due at once
// (At). TermCycles nil is open-ended; otherwise the number of cycles charged
// (1 or more). PaymentMethodID ("" for none yet) is Stripe's id. Products
// may be empty. Creating an id that exists is ErrSubscriptionExists (a
// repeated POST is answered by the HTTP layer's Idempotency-Key).
type Create struct {
	SubscriptionID  domain.SubscriptionID
	CustomerID      domain.CustomerID
	Plan            Plan
	TermCycles      *int
	DeliveryMethod  DeliveryMethod
	PaymentMethodID string
	Products        []NewProduct
	At              time.Time
	Location        *time.Location
}

// AddProduct adds a product; it must not be in the subscription already
// (ErrProductExists). Not on a canceled subscription.
type AddProduct struct {
	SubscriptionID domain.SubscriptionID
	Product        NewProduct
	Today          domain.Date
}

// ChangeProductInterval makes a product ship every Interval. The next
// shipment keeps its date; later ones follow the new interval from it. The
// same interval again is a no-op.
type ChangeProductInterval struct {
	SubscriptionID domain.SubscriptionID
	ProductID      domain.ProductID
	Interval       domain.Interval
}

// SetNextShipment moves a product's next shipment to On (today or later,
// else a validation error on next_shipment_on) and anchors its schedule
// there. Setting the date it already has is a no-op (and keeps the anchor).
type SetNextShipment struct {
	SubscriptionID domain.SubscriptionID
	ProductID      domain.ProductID
	On             domain.Date
	Today          domain.Date
}

// ShipNow makes an order (OrderID, minted by the caller) for a product today
// and re-anchors its schedule on today, so the next shipment is one interval
// from today. Only an active or canceling subscription ships
// (ErrSubscriptionCanceled, ErrSubscriptionNotActive), and not on or after
// its end day (ErrShipmentAfterEnd). Repeating it with the product's last
// order id is a no-op.
type ShipNow struct {
	SubscriptionID domain.SubscriptionID
	ProductID      domain.ProductID
	OrderID        domain.OrderID
	Today          domain.Date
}

// SkipShipment moves a product's next shipment one step of its schedule on
// without an order. Not on a canceled subscription.
type SkipShipment struct {
	SubscriptionID domain.SubscriptionID
	ProductID      domain.ProductID
}

// RemoveProduct removes a product. Not on a canceled subscription.
type RemoveProduct struct {
	SubscriptionID domain.SubscriptionID
	ProductID      domain.ProductID
}

// RecordShipmentDue is the scheduler's: the product's next shipment, DueOn,
// has come (DueOn ≤ Today, and DueOn is the product's next_shipment_on, else
// ErrShipmentNotDue), and OrderID is the order to make. Status and end-day
// rules are those of ShipNow. Repeating it with the product's last order id
// is a no-op.
type RecordShipmentDue struct {
	SubscriptionID domain.SubscriptionID
	ProductID      domain.ProductID
	DueOn          domain.Date
	OrderID        domain.OrderID
	Today          domain.Date
}

// RecordChargeDue is the scheduler's: the next charge has come (At ≥
// next_charge_at, else ErrChargeNotDue) and InvoiceID is the invoice to
// make for it. Only an active subscription is charged, and a pending one for
// its first charge (ErrSubscriptionNotActive); after a term's last cycle
// there is nothing to charge (ErrTermCompleted). Repeating it with an
// invoice already charged is a no-op.
type RecordChargeDue struct {
	SubscriptionID domain.SubscriptionID
	InvoiceID      domain.InvoiceID
	At             time.Time
	Location       *time.Location
}

// RecordPayment records Amount paid on InvoiceID (PaymentID identifies the
// payment; repeating it is a no-op). It is accepted in every status: money
// that moved is a fact. Paying a charge of a pending subscription activates
// it; paying the invoice that made it past_due recovers it.
type RecordPayment struct {
	SubscriptionID domain.SubscriptionID
	InvoiceID      domain.InvoiceID
	PaymentID      domain.PaymentID
	Amount         domain.Money
	At             time.Time
	Location       *time.Location
}

// RecordRefund records Amount refunded on InvoiceID. It cannot exceed what
// was paid on that invoice less what was refunded already
// (ErrRefundExceedsPaid), so the total paid never goes below zero.
type RecordRefund struct {
	SubscriptionID domain.SubscriptionID
	InvoiceID      domain.InvoiceID
	Amount         domain.Money
	At             time.Time
}

// MarkPastDue records that the last retry of InvoiceID (a charge of this
// subscription, else ErrInvoiceNotFound) failed, and applies FinalAction
// (the zero value means FinalActionCancelAtPeriodEnd). Already past_due is a
// no-op.
type MarkPastDue struct {
	SubscriptionID domain.SubscriptionID
	InvoiceID      domain.InvoiceID
	FinalAction    FinalAction
	At             time.Time
	Location       *time.Location
}

// Pause pauses an active subscription (ErrSubscriptionNotActive otherwise;
// already paused is a no-op).
type Pause struct {
	SubscriptionID domain.SubscriptionID
	At             time.Time
}

// Resume makes a paused subscription active again, moving what fell in the
// pause to the first schedule date on or after At (see the package doc).
// Already active is a no-op; any other status is ErrSubscriptionNotPaused.
type Resume struct {
	SubscriptionID domain.SubscriptionID
	At             time.Time
	Location       *time.Location
}

// Cancel cancels now, or at the end of the current cycle when AtPeriodEnd.
// Reason is optional free text. Canceling a canceled subscription, or
// asking again for a period-end cancellation already scheduled, is a no-op.
// A pending or paused subscription has no running period to finish, so an
// AtPeriodEnd cancel of one takes effect at once (as does one whose cycle
// has already ended).
type Cancel struct {
	SubscriptionID domain.SubscriptionID
	AtPeriodEnd    bool
	Reason         string
	At             time.Time
	Location       *time.Location
}

// CompleteCancellation is the scheduler's: ends_at has come (At ≥ ends_at,
// else ErrPeriodNotEnded). It ends a canceling subscription, a past_due one
// whose cancellation is scheduled, and one whose term has run out
// (ErrNoEndScheduled when none of these). Already canceled is a no-op.
type CompleteCancellation struct {
	SubscriptionID domain.SubscriptionID
	At             time.Time
}

func (Create) isCommand()                {}
func (AddProduct) isCommand()            {}
func (ChangeProductInterval) isCommand() {}
func (SetNextShipment) isCommand()       {}
func (ShipNow) isCommand()               {}
func (SkipShipment) isCommand()          {}
func (RemoveProduct) isCommand()         {}
func (RecordShipmentDue) isCommand()     {}
func (RecordChargeDue) isCommand()       {}
func (RecordPayment) isCommand()         {}
func (RecordRefund) isCommand()          {}
func (MarkPastDue) isCommand()           {}
func (Pause) isCommand()                 {}
func (Resume) isCommand()                {}
func (Cancel) isCommand()                {}
func (CompleteCancellation) isCommand()  {}

func (c Create) target() domain.SubscriptionID                { return c.SubscriptionID }
func (c AddProduct) target() domain.SubscriptionID            { return c.SubscriptionID }
func (c ChangeProductInterval) target() domain.SubscriptionID { return c.SubscriptionID }
func (c SetNextShipment) target() domain.SubscriptionID       { return c.SubscriptionID }
func (c ShipNow) target() domain.SubscriptionID               { return c.SubscriptionID }
func (c SkipShipment) target() domain.SubscriptionID          { return c.SubscriptionID }
func (c RemoveProduct) target() domain.SubscriptionID         { return c.SubscriptionID }
func (c RecordShipmentDue) target() domain.SubscriptionID     { return c.SubscriptionID }
func (c RecordChargeDue) target() domain.SubscriptionID       { return c.SubscriptionID }
func (c RecordPayment) target() domain.SubscriptionID         { return c.SubscriptionID }
func (c RecordRefund) target() domain.SubscriptionID          { return c.SubscriptionID }
func (c MarkPastDue) target() domain.SubscriptionID           { return c.SubscriptionID }
func (c Pause) target() domain.SubscriptionID                 { return c.SubscriptionID }
func (c Resume) target() domain.SubscriptionID                { return c.SubscriptionID }
func (c Cancel) target() domain.SubscriptionID                { return c.SubscriptionID }
func (c CompleteCancellation) target() domain.SubscriptionID  { return c.SubscriptionID }
