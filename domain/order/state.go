package order

import (
	"slices"
	"time"

	"github.com/subsd/subsd/domain"
)

// Status is where an order is in its flow.
type Status string

// The statuses of API.md's order page. The zero Status is "no order yet".
const (
	StatusToBeSent     Status = "to_be_sent"
	StatusSent         Status = "sent"
	StatusToBePickedUp Status = "to_be_picked_up"
	StatusPickedUp     Status = "picked_up"
	StatusCanceled     Status = "canceled"
)

// State is an order as the order page shows it: the fold of its events.
// The zero State is an order that does not exist.
type State struct {
	ID              domain.OrderID        `json:"id"`
	Number          domain.OrderNumber    `json:"number"`
	CustomerID      domain.CustomerID     `json:"customer_id"`
	SubscriptionID  domain.SubscriptionID `json:"subscription_id,omitempty"`
	Status          Status                `json:"status"`
	DeliveryMethod  DeliveryMethod        `json:"delivery_method"`
	BillingAddress  domain.Address        `json:"billing_address"`
	ShippingAddress *domain.Address       `json:"shipping_address"`
	Items           []domain.PricedLine   `json:"items"`
	Subtotal        domain.Money          `json:"subtotal"`
	Discount        domain.Money          `json:"discount"`
	VAT             VAT                   `json:"vat"`
	Total           domain.Money          `json:"total"`
	Shipping        *Shipping             `json:"shipping"`
	Pickup          *PickupInfo           `json:"pickup"`
	Invoice         *InvoiceRef           `json:"invoice"`
	CreatedAt       time.Time             `json:"created_at"`
	// ShippedOn is the shipping day the order was made for: a subscription
	// product's due date (today for "ship now"), or the day a one-off order
	// was placed. The moment it left is Shipping.SentAt.
	ShippedOn    domain.Date `json:"shipped_on"`
	CanceledAt   *time.Time  `json:"canceled_at,omitempty"`
	CancelReason string      `json:"cancel_reason,omitempty"`
}

// VAT is the order's VAT: one rate (the shipping country's) and the sum of
// the per-line rounded amounts.
type VAT struct {
	RateBP domain.VATRate `json:"rate_bp"`
	Amount domain.Money   `json:"amount"`
}

// Shipping is the tracking of a sent order.
type Shipping struct {
	TrackingCode string     `json:"tracking_code"`
	TrackingURL  string     `json:"tracking_url"`
	Carrier      string     `json:"carrier"`
	SentAt       time.Time  `json:"sent_at"`
	CorrectedAt  *time.Time `json:"corrected_at,omitempty"`
}

// PickupInfo is the pickup of a collected order.
type PickupInfo struct {
	PickedUpAt time.Time `json:"picked_up_at"`
}

// InvoiceRef names the invoice that charges the order.
type InvoiceRef struct {
	ID     domain.InvoiceID     `json:"id"`
	Number domain.InvoiceNumber `json:"number"`
}

// Exists reports whether the order has been created.
func (s State) Exists() bool { return s.Status != "" }

// Evolve applies one event. It only copies facts: every amount, date and
// status was decided when the event was made.
func Evolve(s State, e Event) State {
	switch e := e.(type) {
	case Created:
		s = State{
			ID:              e.OrderID,
			Number:          e.Number,
			CustomerID:      e.CustomerID,
			SubscriptionID:  e.SubscriptionID,
			Status:          StatusToBeSent,
			DeliveryMethod:  e.DeliveryMethod,
			BillingAddress:  e.BillingAddress,
			ShippingAddress: clone(e.ShippingAddress),
			Items:           slices.Clone(e.Items),
			Subtotal:        e.Subtotal,
			Discount:        e.Discount,
			VAT:             VAT{RateBP: e.VATRate, Amount: e.VAT},
			Total:           e.Total,
			CreatedAt:       e.CreatedAt,
			ShippedOn:       e.ShipOn,
		}
		if e.DeliveryMethod == Pickup {
			s.Status = StatusToBePickedUp
		}
	case Sent:
		s.Status = StatusSent
		s.Shipping = &Shipping{TrackingCode: e.TrackingCode, TrackingURL: e.TrackingURL, Carrier: e.Carrier, SentAt: e.SentAt}
	case TrackingCorrected:
		sh := Shipping{}
		if s.Shipping != nil {
			sh = *s.Shipping
		}
		sh.TrackingCode, sh.TrackingURL, sh.Carrier = e.TrackingCode, e.TrackingURL, e.Carrier
		sh.CorrectedAt = &e.CorrectedAt
		s.Shipping = &sh
	case PickedUp:
		s.Status = StatusPickedUp
		s.Pickup = &PickupInfo{PickedUpAt: e.PickedUpAt}
	case Canceled:
		s.Status = StatusCanceled
		s.CanceledAt = &e.CanceledAt
		s.CancelReason = e.Reason
	case InvoiceLinked:
		s.Invoice = &InvoiceRef{ID: e.InvoiceID, Number: e.InvoiceNumber}
	}
	return s
}

// Fold is Evolve over the zero State: the only way an order is rebuilt.
func Fold(events ...Event) State {
	var s State
	for _, e := range events {
		s = Evolve(s, e)
	}
	return s
}

// Aggregate describes the order to the code that runs commands against the
// event store.
var Aggregate = domain.Aggregate[State, Command, Event]{Codec: Codec, Decide: Decide, Evolve: Evolve}

func clone[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}
