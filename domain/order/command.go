// Package order is the order aggregate: one shipment to a customer, made
// from a subscription's due product or from a one-off cart, with its priced
// lines, its VAT, and its delivery (to_be_sent → sent) or pickup
// (to_be_picked_up → picked_up) flow.
//
// Seed "Manage the orders and subscriptions of my clients" → this package:
//
//	Details (billing / shipping address)      Created.BillingAddress, ShippingAddress
//	Order Summary (cart, delivery method,     Created (Items, Subtotal, Discount,
//	  subtotal, discount, total, VAT)           Total, VATRate, VAT, DeliveryMethod)
//	To be sent → Send shipping email          AddTracking → Sent (TrackingCorrected)
//	Sent → View parcel tracking link          State.Shipping
//	To be picked up → Confirm order pickup    ConfirmPickup → PickedUp
//	Picked up (date and time)                 State.Pickup.PickedUpAt
//	Invoice and Refund buttons                LinkInvoice → InvoiceLinked (the
//	                                            invoice itself is domain/invoice)
package order

import (
	"time"

	"github.com/subsd/subsd/domain"
)

// Command is the closed set of the order's commands.
type Command interface{ isCommand() }

// DeliveryMethod is how the customer gets the order.
type DeliveryMethod string

// The delivery methods.
const (
	Delivery DeliveryMethod = "delivery"
	Pickup   DeliveryMethod = "pickup"
)

// ParseDeliveryMethod accepts "delivery" or "pickup"; errors name the field
// "delivery_method".
func ParseDeliveryMethod(s string) (DeliveryMethod, error) {
	switch m := DeliveryMethod(s); m {
	case Delivery, Pickup:
		return m, nil
	}
	return "", domain.Invalid("delivery_method", "delivery method must be delivery or pickup, got %q", s)
}

// Create makes the order. It serves both sources:
//
//   - a subscription shipment: SubscriptionID set, ShipOn the product's due
//     date (or today for "ship now"), Items built from the subscribed product.
//     A product included in the plan is a line with IncludedInPlan and a zero
//     UnitPrice (in the plan's currency); a product with its own price is a
//     line with that price, and that order gets an invoice of its own.
//   - a one-off cart (POST /v1/orders): no SubscriptionID, ShipOn the business
//     day the order is placed, Items from the request; IncludedInPlan is
//     refused there.
//
// Number is allocated outside the domain. BillingAddress is required (the
// HTTP layer fills it from the customer when the request has none);
// ShippingAddress nil means "ship to the billing address". VAT is charged at
// the shipping country's rate from VATRates (the billing country's without a
// shipping address), per domain.PriceLines. Discount's zero Money means none.
//
// Creating an order that exists is a no-op when the id and number are the
// ones it was created with (a retried job), and ErrOrderExists otherwise.
type Create struct {
	OrderID         domain.OrderID
	Number          domain.OrderNumber
	CustomerID      domain.CustomerID
	SubscriptionID  domain.SubscriptionID
	ShipOn          domain.Date
	DeliveryMethod  DeliveryMethod
	BillingAddress  domain.Address
	ShippingAddress *domain.Address
	Items           []domain.Line
	Discount        domain.Money
	VATRates        domain.VATRates
	At              time.Time
}

// AddTracking records that a delivery order was handed to the carrier
// (POST /v1/orders/{id}/tracking) and so sends the shipping email.
// TrackAndTraceEnabled is the email setting at the time of the request: while
// it is off the command fails with ErrTrackAndTraceDisabled. TrackingCode and
// an http(s) TrackingURL are required; Carrier is optional.
//
// On an order that is already sent, the same tracking again is a no-op and
// different tracking is a correction (TrackingCorrected): the code, URL and
// carrier are replaced, the original sent time stays, and the customer is
// sent the corrected link.
type AddTracking struct {
	TrackingCode         string
	TrackingURL          string
	Carrier              string
	TrackAndTraceEnabled bool
	At                   time.Time
}

// ConfirmPickup records that the customer collected a pickup order
// (POST /v1/orders/{id}/pickup). Confirming twice is a no-op.
type ConfirmPickup struct {
	At time.Time
}

// Cancel cancels an order that has not left yet (neither sent nor picked
// up). Canceling a canceled order is a no-op. Reason is optional free text.
// Canceling does not touch the order's invoice: refunding or voiding it is
// the invoice's own command.
type Cancel struct {
	Reason string
	At     time.Time
}

// LinkInvoice records the invoice that charges this order (priced
// subscription shipments and one-off orders have one). Linking the same
// invoice again is a no-op; linking another is ErrInvoiceAlreadyLinked. It is
// allowed in every status: a canceled order's invoice still has to be shown
// so that it can be refunded or voided.
type LinkInvoice struct {
	InvoiceID     domain.InvoiceID
	InvoiceNumber domain.InvoiceNumber
	At            time.Time
}

func (Create) isCommand()        {}
func (AddTracking) isCommand()   {}
func (ConfirmPickup) isCommand() {}
func (Cancel) isCommand()        {}
func (LinkInvoice) isCommand()   {}
