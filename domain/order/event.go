package order

import (
	"time"

	"github.com/subsd/subsd/domain"
)

// StreamPrefix starts the name of every order stream.
const StreamPrefix = "order-"

// Stream returns the name of the order's stream.
func Stream(id domain.OrderID) string { return StreamPrefix + string(id) }

// Event is the closed set of the order's events. Every event carries the
// order id and the customer id (the customer page lists orders and the last
// track & trace), and every amount or date it implies: Evolve never prices
// or computes.
type Event interface {
	domain.Event
	isEvent()
}

// Codec stores and loads the order's events.
var Codec = domain.NewCodec[Event]()

func init() {
	domain.Register[Created](Codec)
	domain.Register[Sent](Codec)
	domain.Register[TrackingCorrected](Codec)
	domain.Register[PickedUp](Codec)
	domain.Register[Canceled](Codec)
	domain.Register[InvoiceLinked](Codec)
}

// Created ("order.created") is a new order with everything the order page
// shows, priced by domain.PriceLines. Its status follows from DeliveryMethod:
// to_be_sent for delivery, to_be_picked_up for pickup.
type Created struct {
	OrderID         domain.OrderID        `json:"order_id"`
	Number          domain.OrderNumber    `json:"number"`
	CustomerID      domain.CustomerID     `json:"customer_id"`
	SubscriptionID  domain.SubscriptionID `json:"subscription_id,omitempty"`
	ShipOn          domain.Date           `json:"ship_on"`
	DeliveryMethod  DeliveryMethod        `json:"delivery_method"`
	BillingAddress  domain.Address        `json:"billing_address"`
	ShippingAddress *domain.Address       `json:"shipping_address,omitempty"`
	Items           []domain.PricedLine   `json:"items"`
	Subtotal        domain.Money          `json:"subtotal"`
	Discount        domain.Money          `json:"discount"`
	Total           domain.Money          `json:"total"`
	VATRate         domain.VATRate        `json:"vat_rate_bp"`
	VAT             domain.Money          `json:"vat"`
	CreatedAt       time.Time             `json:"created_at"`
}

// Sent ("order.sent") is a delivery order handed to the carrier; the
// shipping confirmation email (with the tracking link) follows from it.
type Sent struct {
	OrderID        domain.OrderID        `json:"order_id"`
	Number         domain.OrderNumber    `json:"number"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	SubscriptionID domain.SubscriptionID `json:"subscription_id,omitempty"`
	TrackingCode   string                `json:"tracking_code"`
	TrackingURL    string                `json:"tracking_url"`
	Carrier        string                `json:"carrier,omitempty"`
	SentAt         time.Time             `json:"sent_at"`
}

// TrackingCorrected ("order.tracking_corrected") replaces the tracking of a
// sent order; the corrected link is emailed again. SentAt stays the time of
// the original Sent.
type TrackingCorrected struct {
	OrderID        domain.OrderID        `json:"order_id"`
	Number         domain.OrderNumber    `json:"number"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	SubscriptionID domain.SubscriptionID `json:"subscription_id,omitempty"`
	TrackingCode   string                `json:"tracking_code"`
	TrackingURL    string                `json:"tracking_url"`
	Carrier        string                `json:"carrier,omitempty"`
	CorrectedAt    time.Time             `json:"corrected_at"`
}

// PickedUp ("order.picked_up") is a pickup order collected by the customer.
type PickedUp struct {
	OrderID        domain.OrderID        `json:"order_id"`
	Number         domain.OrderNumber    `json:"number"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	SubscriptionID domain.SubscriptionID `json:"subscription_id,omitempty"`
	PickedUpAt     time.Time             `json:"picked_up_at"`
}

// Canceled ("order.canceled") is an order that will not ship. InvoiceID is
// the linked invoice, if any, for the reactor that voids or refunds it.
type Canceled struct {
	OrderID        domain.OrderID        `json:"order_id"`
	Number         domain.OrderNumber    `json:"number"`
	CustomerID     domain.CustomerID     `json:"customer_id"`
	SubscriptionID domain.SubscriptionID `json:"subscription_id,omitempty"`
	InvoiceID      domain.InvoiceID      `json:"invoice_id,omitempty"`
	Reason         string                `json:"reason,omitempty"`
	CanceledAt     time.Time             `json:"canceled_at"`
}

// InvoiceLinked ("order.invoice_linked") names the invoice that charges the
// order.
type InvoiceLinked struct {
	OrderID       domain.OrderID       `json:"order_id"`
	CustomerID    domain.CustomerID    `json:"customer_id"`
	InvoiceID     domain.InvoiceID     `json:"invoice_id"`
	InvoiceNumber domain.InvoiceNumber `json:"invoice_number"`
	LinkedAt      time.Time            `json:"linked_at"`
}

// EventType returns "order.created".
func (Created) EventType() string { return "order.created" }

// EventType returns "order.sent".
func (Sent) EventType() string { return "order.sent" }

// EventType returns "order.tracking_corrected".
func (TrackingCorrected) EventType() string { return "order.tracking_corrected" }

// EventType returns "order.picked_up".
func (PickedUp) EventType() string { return "order.picked_up" }

// EventType returns "order.canceled".
func (Canceled) EventType() string { return "order.canceled" }

// EventType returns "order.invoice_linked".
func (InvoiceLinked) EventType() string { return "order.invoice_linked" }

func (Created) isEvent()           {}
func (Sent) isEvent()              {}
func (TrackingCorrected) isEvent() {}
func (PickedUp) isEvent()          {}
func (Canceled) isEvent()          {}
func (InvoiceLinked) isEvent()     {}
