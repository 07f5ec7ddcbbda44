package order

import (
	"fmt"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/subsd/subsd/domain"
)

// The order's business-rule errors.
var (
	// ErrOrderNotFound: a command other than Create on an order that does
	// not exist.
	ErrOrderNotFound = domain.NotFound("order_not_found", "the order does not exist")
	// ErrOrderExists: Create on an order id already created with another
	// number.
	ErrOrderExists = domain.Conflict("order_exists", "an order with this id already exists")
	// ErrTrackAndTraceDisabled: tracking sent while the track & trace email
	// setting is off (API.md: 409 track_and_trace_disabled).
	ErrTrackAndTraceDisabled = domain.Conflict("track_and_trace_disabled", "track and trace is disabled in the email settings")
	// ErrPickupOrderNoTracking: tracking for a pickup order, which is picked
	// up and never sent.
	ErrPickupOrderNoTracking = domain.Conflict("pickup_order_no_tracking", "a pickup order is picked up, not sent, so it has no tracking")
	// ErrDeliveryOrderNoPickup: a pickup confirmed for a delivery order.
	ErrDeliveryOrderNoPickup = domain.Conflict("delivery_order_no_pickup", "a delivery order is sent, not picked up")
	// ErrOrderCanceled: tracking or a pickup for a canceled order.
	ErrOrderCanceled = domain.Conflict("order_canceled", "the order is canceled")
	// ErrOrderAlreadySent: canceling an order that has been sent.
	ErrOrderAlreadySent = domain.Conflict("order_already_sent", "the order has been sent and can no longer be canceled")
	// ErrOrderAlreadyPickedUp: canceling an order that has been picked up.
	ErrOrderAlreadyPickedUp = domain.Conflict("order_already_picked_up", "the order has been picked up and can no longer be canceled")
	// ErrInvoiceAlreadyLinked: linking a second, different invoice.
	ErrInvoiceAlreadyLinked = domain.Conflict("order_invoice_already_linked", "the order is already linked to another invoice")
)

// Decide runs a command against an order. It returns the events to append,
// nil for an idempotent repeat, or an *domain.Error: Invalid for bad input
// (naming the request field), or one of the ErrXxx sentinels above.
func Decide(s State, c Command) ([]Event, error) {
	if cr, ok := c.(Create); ok {
		return create(s, cr)
	}
	if !s.Exists() {
		return nil, ErrOrderNotFound
	}
	switch c := c.(type) {
	case AddTracking:
		return addTracking(s, c)
	case ConfirmPickup:
		return confirmPickup(s, c)
	case Cancel:
		return cancel(s, c)
	case LinkInvoice:
		return linkInvoice(s, c)
	}
	return nil, fmt.Errorf("order: unknown command %T", c)
}

func create(s State, c Create) ([]Event, error) {
	if s.Exists() {
		if s.ID == c.OrderID && s.Number == c.Number {
			return nil, nil
		}
		return nil, ErrOrderExists
	}
	if _, err := domain.ParseOrderID(string(c.OrderID)); err != nil {
		return nil, err
	}
	if _, err := domain.ParseOrderNumber(string(c.Number)); err != nil {
		return nil, err
	}
	if _, err := domain.ParseCustomerID(string(c.CustomerID)); err != nil {
		return nil, err
	}
	if c.SubscriptionID != "" {
		if _, err := domain.ParseSubscriptionID(string(c.SubscriptionID)); err != nil {
			return nil, err
		}
	}
	if c.ShipOn.IsZero() {
		return nil, domain.Invalid("ship_on", "the shipping day is required")
	}
	if _, err := ParseDeliveryMethod(string(c.DeliveryMethod)); err != nil {
		return nil, err
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
	for i, l := range c.Items {
		if l.ProductID == "" {
			return nil, domain.Invalid(fmt.Sprintf("items[%d].product_id", i), "product_id is required")
		}
		if l.IncludedInPlan && c.SubscriptionID == "" {
			return nil, domain.Invalid(fmt.Sprintf("items[%d].included_in_plan", i), "only a subscription shipment has products included in a plan")
		}
	}
	if c.At.IsZero() {
		return nil, domain.Invalid("at", "the time of the command is required")
	}
	rate, err := c.VATRates.RateFor(billing, shipping)
	if err != nil {
		return nil, err
	}
	p, err := domain.PriceLines("items", c.Items, c.Discount, rate)
	if err != nil {
		return nil, err
	}
	return []Event{Created{
		OrderID:         c.OrderID,
		Number:          c.Number,
		CustomerID:      c.CustomerID,
		SubscriptionID:  c.SubscriptionID,
		ShipOn:          c.ShipOn,
		DeliveryMethod:  c.DeliveryMethod,
		BillingAddress:  billing,
		ShippingAddress: shipping,
		Items:           p.Lines,
		Subtotal:        p.Subtotal,
		Discount:        p.Discount,
		Total:           p.Total,
		VATRate:         p.VATRate,
		VAT:             p.VAT,
		CreatedAt:       c.At.UTC(),
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

func addTracking(s State, c AddTracking) ([]Event, error) {
	code := strings.TrimSpace(c.TrackingCode)
	if err := text("tracking_code", code, 100, true); err != nil {
		return nil, err
	}
	link, err := trackingURL(c.TrackingURL)
	if err != nil {
		return nil, err
	}
	carrier := strings.TrimSpace(c.Carrier)
	if err := text("carrier", carrier, 100, false); err != nil {
		return nil, err
	}
	if c.At.IsZero() {
		return nil, domain.Invalid("at", "the time of the command is required")
	}
	switch {
	case s.DeliveryMethod == Pickup:
		return nil, ErrPickupOrderNoTracking
	case s.Status == StatusCanceled:
		return nil, ErrOrderCanceled
	case !c.TrackAndTraceEnabled:
		// Checked after the order's own rules so that a pickup or canceled
		// order says so whatever the setting, and before the repeat check:
		// while the setting is off, no tracking email can be caused.
		return nil, ErrTrackAndTraceDisabled
	}
	if s.Status == StatusSent {
		sh := s.Shipping
		if sh != nil && sh.TrackingCode == code && sh.TrackingURL == link && sh.Carrier == carrier {
			return nil, nil
		}
		return []Event{TrackingCorrected{
			OrderID: s.ID, Number: s.Number, CustomerID: s.CustomerID, SubscriptionID: s.SubscriptionID,
			TrackingCode: code, TrackingURL: link, Carrier: carrier, CorrectedAt: c.At.UTC(),
		}}, nil
	}
	return []Event{Sent{
		OrderID: s.ID, Number: s.Number, CustomerID: s.CustomerID, SubscriptionID: s.SubscriptionID,
		TrackingCode: code, TrackingURL: link, Carrier: carrier, SentAt: c.At.UTC(),
	}}, nil
}

// trackingURL accepts an absolute http or https URL with a host and without
// credentials, at most 2048 characters: it is put in an email as a link.
func trackingURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", domain.Invalid("tracking_url", "tracking_url is required")
	}
	if err := text("tracking_url", s, 2048, true); err != nil {
		return "", err
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" || strings.ContainsAny(s, " \t") {
		return "", domain.Invalid("tracking_url", "tracking_url must be an http or https link, got %q", raw)
	}
	if u.User != nil {
		return "", domain.Invalid("tracking_url", "tracking_url must not contain credentials")
	}
	return s, nil
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

func confirmPickup(s State, c ConfirmPickup) ([]Event, error) {
	if c.At.IsZero() {
		return nil, domain.Invalid("at", "the time of the command is required")
	}
	switch {
	case s.DeliveryMethod != Pickup:
		return nil, ErrDeliveryOrderNoPickup
	case s.Status == StatusCanceled:
		return nil, ErrOrderCanceled
	case s.Status == StatusPickedUp:
		return nil, nil
	}
	return []Event{PickedUp{
		OrderID: s.ID, Number: s.Number, CustomerID: s.CustomerID, SubscriptionID: s.SubscriptionID,
		PickedUpAt: c.At.UTC(),
	}}, nil
}

func cancel(s State, c Cancel) ([]Event, error) {
	reason := strings.TrimSpace(c.Reason)
	if err := text("reason", reason, 500, false); err != nil {
		return nil, err
	}
	if c.At.IsZero() {
		return nil, domain.Invalid("at", "the time of the command is required")
	}
	switch s.Status {
	case StatusCanceled:
		return nil, nil
	case StatusSent:
		return nil, ErrOrderAlreadySent
	case StatusPickedUp:
		return nil, ErrOrderAlreadyPickedUp
	}
	var inv domain.InvoiceID
	if s.Invoice != nil {
		inv = s.Invoice.ID
	}
	return []Event{Canceled{
		OrderID: s.ID, Number: s.Number, CustomerID: s.CustomerID, SubscriptionID: s.SubscriptionID,
		InvoiceID: inv, Reason: reason, CanceledAt: c.At.UTC(),
	}}, nil
}

func linkInvoice(s State, c LinkInvoice) ([]Event, error) {
	if _, err := domain.ParseInvoiceID(string(c.InvoiceID)); err != nil {
		return nil, err
	}
	if _, err := domain.ParseInvoiceNumber(string(c.InvoiceNumber)); err != nil {
		return nil, domain.Invalid("invoice_number", "invoice number must look like INV-2026-000042, got %q", c.InvoiceNumber)
	}
	if c.At.IsZero() {
		return nil, domain.Invalid("at", "the time of the command is required")
	}
	if s.Invoice != nil {
		if s.Invoice.ID == c.InvoiceID && s.Invoice.Number == c.InvoiceNumber {
			return nil, nil
		}
		return nil, ErrInvoiceAlreadyLinked
	}
	return []Event{InvoiceLinked{
		OrderID: s.ID, CustomerID: s.CustomerID, InvoiceID: c.InvoiceID, InvoiceNumber: c.InvoiceNumber,
		LinkedAt: c.At.UTC(),
	}}, nil
}
