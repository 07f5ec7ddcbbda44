package order_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/order"
)

// A given-events / when-command / then-events-or-error case.
type tc struct {
	name  string
	given []order.Event
	when  order.Command
	then  []order.Event
	err   error
	field string // for err: the field the *domain.Error must name
}

// run decides every case on the fold of its history. Events a case expects
// are also evolved and sent through the codec, so every decided event is
// known to fold and to survive storage.
func run(t *testing.T, cases []tc) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := order.Decide(order.Fold(c.given...), c.when)
			if c.err != nil {
				require.ErrorIs(t, err, c.err)
				require.Nil(t, got)
				if c.field != "" {
					var de *domain.Error
					require.True(t, errors.As(err, &de), "%v is a *domain.Error", err)
					require.Equal(t, c.field, de.Field)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.then, got)
			for _, e := range got {
				name, data, err := order.Codec.Encode(e)
				require.NoError(t, err)
				back, err := order.Codec.Decode(name, data)
				require.NoError(t, err)
				require.Equal(t, e, back)
			}
			_ = order.Fold(append(c.given, got...)...)
		})
	}
}

var (
	t0    = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	t1    = t0.Add(26 * time.Hour)
	t2    = t1.Add(3 * time.Hour)
	day   = domain.Date{Year: 2026, Month: time.November, Day: 21}
	nl    = domain.Address{Street: "Damrak 1", Zipcode: "1012 LG", City: "Amsterdam", Country: "NL"}
	de    = domain.Address{Street: "Unter den Linden 1", Zipcode: "10117", City: "Berlin", Country: "DE"}
	fr    = domain.Address{Street: "1 Rue de Rivoli", Zipcode: "75001", City: "Paris", Country: "FR"}
	us    = domain.Address{Street: "1 Main St", Zipcode: "10001", City: "New York", Country: "US"}
	rates = domain.DefaultVATRates()
)

const (
	oid  domain.OrderID        = "ord_1"
	num  domain.OrderNumber    = "ORD-000123"
	cid  domain.CustomerID     = "cus_1"
	sid  domain.SubscriptionID = "sub_1"
	iid  domain.InvoiceID      = "inv_1"
	inum domain.InvoiceNumber  = "INV-2026-000042"
)

// cart is a one-off cart: 2 × 12.10 beans and 1 × 9.99 descaler, 5.00 off,
// delivered in the Netherlands (21%).
func cart() order.Create {
	return order.Create{
		OrderID: oid, Number: num, CustomerID: cid, ShipOn: day, DeliveryMethod: order.Delivery,
		BillingAddress: nl,
		Items: []domain.Line{
			{ProductID: "beans", Name: "Coffee beans", Quantity: 2, UnitPrice: domain.Cents(1210)},
			{ProductID: "descaler", Name: "Descaler", Quantity: 1, UnitPrice: domain.Cents(999)},
		},
		Discount: domain.Cents(500), VATRates: rates, At: t0,
	}
}

// cartCreated is what cart() decides: the 5.00 is spread 3.54 / 1.46 by the
// largest remainder (353.90 / 146.10 before rounding), and VAT is taken per
// line from the discounted amounts: 20.66 → 3.59, 8.53 → 1.48.
func cartCreated() order.Created {
	return order.Created{
		OrderID: oid, Number: num, CustomerID: cid, ShipOn: day, DeliveryMethod: order.Delivery,
		BillingAddress: nl,
		Items: []domain.PricedLine{
			{ProductID: "beans", Name: "Coffee beans", Quantity: 2, UnitPrice: domain.Cents(1210), Total: domain.Cents(2420), Discount: domain.Cents(354), Net: domain.Cents(2066), VAT: domain.Cents(359)},
			{ProductID: "descaler", Name: "Descaler", Quantity: 1, UnitPrice: domain.Cents(999), Total: domain.Cents(999), Discount: domain.Cents(146), Net: domain.Cents(853), VAT: domain.Cents(148)},
		},
		Subtotal: domain.Cents(3419), Discount: domain.Cents(500), Total: domain.Cents(2919),
		VATRate: 2100, VAT: domain.Cents(507), CreatedAt: t0,
	}
}

func pickupCreated() order.Created {
	e := cartCreated()
	e.DeliveryMethod = order.Pickup
	return e
}

var (
	sent     = order.Sent{OrderID: oid, Number: num, CustomerID: cid, TrackingCode: "3SABC123", TrackingURL: "https://tracking.example.com/3SABC123", Carrier: "PostNL", SentAt: t1}
	pickedUp = order.PickedUp{OrderID: oid, Number: num, CustomerID: cid, PickedUpAt: t1}
	canceled = order.Canceled{OrderID: oid, Number: num, CustomerID: cid, CanceledAt: t1}
	linked   = order.InvoiceLinked{OrderID: oid, CustomerID: cid, InvoiceID: iid, InvoiceNumber: inum, LinkedAt: t0}
)

func with(c order.Create, f func(*order.Create)) order.Create {
	f(&c)
	return c
}

func ptr[T any](v T) *T { return &v }

func TestCreate(t *testing.T) {
	t.Parallel()
	run(t, []tc{
		{name: "a one-off cart is priced, discounted and taxed per line", when: cart(), then: []order.Event{cartCreated()}},
		{name: "a pickup cart", when: with(cart(), func(c *order.Create) { c.DeliveryMethod = order.Pickup }), then: []order.Event{pickupCreated()}},
		{
			name: "VAT at the shipping country's rate (DE 19%), not the billing country's",
			when: with(cart(), func(c *order.Create) {
				c.ShippingAddress = &de
				c.Discount = domain.Money{}
				c.Items = c.Items[:1]
			}),
			then: []order.Event{order.Created{
				OrderID: oid, Number: num, CustomerID: cid, ShipOn: day, DeliveryMethod: order.Delivery,
				BillingAddress: nl, ShippingAddress: &de,
				Items: []domain.PricedLine{
					// 24.20 × 19/119 = 3.8639 → 3.86
					{ProductID: "beans", Name: "Coffee beans", Quantity: 2, UnitPrice: domain.Cents(1210), Total: domain.Cents(2420), Discount: domain.Cents(0), Net: domain.Cents(2420), VAT: domain.Cents(386)},
				},
				Subtotal: domain.Cents(2420), Discount: domain.Cents(0), Total: domain.Cents(2420),
				VATRate: 1900, VAT: domain.Cents(386), CreatedAt: t0,
			}},
		},
		{
			name: "VAT at the billing country's rate (FR 20%) without a shipping address; half a cent rounds up",
			when: with(cart(), func(c *order.Create) {
				c.BillingAddress = fr
				c.Discount = domain.Money{}
				c.Items = []domain.Line{{ProductID: "sample", Name: "Sample", Quantity: 1, UnitPrice: domain.Cents(3)}}
			}),
			then: []order.Event{order.Created{
				OrderID: oid, Number: num, CustomerID: cid, ShipOn: day, DeliveryMethod: order.Delivery,
				BillingAddress: fr,
				Items: []domain.PricedLine{
					{ProductID: "sample", Name: "Sample", Quantity: 1, UnitPrice: domain.Cents(3), Total: domain.Cents(3), Discount: domain.Cents(0), Net: domain.Cents(3), VAT: domain.Cents(1)},
				},
				Subtotal: domain.Cents(3), Discount: domain.Cents(0), Total: domain.Cents(3),
				VATRate: 2000, VAT: domain.Cents(1), CreatedAt: t0,
			}},
		},
		{
			name: "a subscription shipment of a product included in the plan costs nothing on the order",
			when: order.Create{
				OrderID: oid, Number: num, CustomerID: cid, SubscriptionID: sid, ShipOn: day, DeliveryMethod: order.Delivery,
				BillingAddress: nl,
				Items:          []domain.Line{{ProductID: "filter", Name: "Water filter", Quantity: 1, UnitPrice: domain.Cents(0), IncludedInPlan: true}},
				VATRates:       rates, At: t0,
			},
			then: []order.Event{order.Created{
				OrderID: oid, Number: num, CustomerID: cid, SubscriptionID: sid, ShipOn: day, DeliveryMethod: order.Delivery,
				BillingAddress: nl,
				Items: []domain.PricedLine{
					{ProductID: "filter", Name: "Water filter", Quantity: 1, UnitPrice: domain.Cents(0), IncludedInPlan: true, Total: domain.Cents(0), Discount: domain.Cents(0), Net: domain.Cents(0), VAT: domain.Cents(0)},
				},
				Subtotal: domain.Cents(0), Discount: domain.Cents(0), Total: domain.Cents(0),
				VATRate: 2100, VAT: domain.Cents(0), CreatedAt: t0,
			}},
		},
		{
			name: "a subscription shipment of a priced product carries its price",
			when: order.Create{
				OrderID: oid, Number: num, CustomerID: cid, SubscriptionID: sid, ShipOn: day, DeliveryMethod: order.Pickup,
				BillingAddress: nl,
				Items:          []domain.Line{{ProductID: "beans", Name: "Coffee beans", Quantity: 3, UnitPrice: domain.Cents(1210)}},
				VATRates:       rates, At: t0,
			},
			then: []order.Event{order.Created{
				OrderID: oid, Number: num, CustomerID: cid, SubscriptionID: sid, ShipOn: day, DeliveryMethod: order.Pickup,
				BillingAddress: nl,
				Items: []domain.PricedLine{
					{ProductID: "beans", Name: "Coffee beans", Quantity: 3, UnitPrice: domain.Cents(1210), Total: domain.Cents(3630), Discount: domain.Cents(0), Net: domain.Cents(3630), VAT: domain.Cents(630)},
				},
				Subtotal: domain.Cents(3630), Discount: domain.Cents(0), Total: domain.Cents(3630),
				VATRate: 2100, VAT: domain.Cents(630), CreatedAt: t0,
			}},
		},
		{
			name: "addresses are trimmed and the time stored in UTC",
			when: with(cart(), func(c *order.Create) {
				c.BillingAddress = domain.Address{Street: " Damrak 1 ", Zipcode: "1012 LG", City: "Amsterdam ", Country: "nl"}
				c.At = t0.In(time.FixedZone("CET", 3600))
			}),
			then: []order.Event{cartCreated()},
		},
		{name: "creating it again with the same number is a no-op", given: []order.Event{cartCreated()}, when: cart()},
		{name: "another order under the same id", given: []order.Event{cartCreated()}, when: with(cart(), func(c *order.Create) { c.Number = "ORD-000124" }), err: order.ErrOrderExists},

		{name: "shipping country without a VAT rate", when: with(cart(), func(c *order.Create) { c.ShippingAddress = &us }), err: domain.ErrNoVATRate, field: "shipping_address.country"},
		{name: "billing country without a VAT rate", when: with(cart(), func(c *order.Create) { c.BillingAddress = us }), err: domain.ErrNoVATRate, field: "billing_address.country"},
		{name: "a configured rate counts", when: with(cart(), func(c *order.Create) {
			c.BillingAddress = us
			c.VATRates = domain.VATRates{"US": 0}
			c.Discount = domain.Money{}
			c.Items = c.Items[1:]
		}), then: []order.Event{order.Created{
			OrderID: oid, Number: num, CustomerID: cid, ShipOn: day, DeliveryMethod: order.Delivery, BillingAddress: us,
			Items: []domain.PricedLine{
				{ProductID: "descaler", Name: "Descaler", Quantity: 1, UnitPrice: domain.Cents(999), Total: domain.Cents(999), Discount: domain.Cents(0), Net: domain.Cents(999), VAT: domain.Cents(0)},
			},
			Subtotal: domain.Cents(999), Discount: domain.Cents(0), Total: domain.Cents(999), VATRate: 0, VAT: domain.Cents(0), CreatedAt: t0,
		}}},

		{name: "bad order id", when: with(cart(), func(c *order.Create) { c.OrderID = "cus_1" }), err: domain.ErrInvalid, field: "order_id"},
		{name: "bad number", when: with(cart(), func(c *order.Create) { c.Number = "123" }), err: domain.ErrInvalid, field: "number"},
		{name: "bad customer", when: with(cart(), func(c *order.Create) { c.CustomerID = "" }), err: domain.ErrInvalid, field: "customer_id"},
		{name: "bad subscription", when: with(cart(), func(c *order.Create) { c.SubscriptionID = "sub_" }), err: domain.ErrInvalid, field: "subscription_id"},
		{name: "no shipping day", when: with(cart(), func(c *order.Create) { c.ShipOn = domain.Date{} }), err: domain.ErrInvalid, field: "ship_on"},
		{name: "bad delivery method", when: with(cart(), func(c *order.Create) { c.DeliveryMethod = "drone" }), err: domain.ErrInvalid, field: "delivery_method"},
		{name: "bad billing address", when: with(cart(), func(c *order.Create) { c.BillingAddress.City = "" }), err: domain.ErrInvalid, field: "billing_address.city"},
		{name: "bad shipping address", when: with(cart(), func(c *order.Create) {
			c.ShippingAddress = &domain.Address{Street: "x", Zipcode: "1", City: "y", Country: "XX"}
		}), err: domain.ErrInvalid, field: "shipping_address.country"},
		{name: "no items", when: with(cart(), func(c *order.Create) { c.Items = nil }), err: domain.ErrInvalid, field: "items"},
		{name: "an item without a product", when: with(cart(), func(c *order.Create) { c.Items[1].ProductID = "" }), err: domain.ErrInvalid, field: "items[1].product_id"},
		{name: "included in a plan on a one-off cart", when: with(cart(), func(c *order.Create) {
			c.Items = []domain.Line{{ProductID: "filter", Name: "Filter", Quantity: 1, UnitPrice: domain.Cents(0), IncludedInPlan: true}}
		}), err: domain.ErrInvalid, field: "items[0].included_in_plan"},
		{name: "zero quantity", when: with(cart(), func(c *order.Create) { c.Items[1].Quantity = 0 }), err: domain.ErrInvalid, field: "items[1].quantity"},
		{name: "negative price", when: with(cart(), func(c *order.Create) { c.Items[0].UnitPrice = domain.Cents(-1) }), err: domain.ErrInvalid, field: "items[0].unit_price.amount"},
		{name: "discount above the subtotal", when: with(cart(), func(c *order.Create) { c.Discount = domain.Cents(3420) }), err: domain.ErrInvalid, field: "discount.amount"},
		{name: "no time", when: with(cart(), func(c *order.Create) { c.At = time.Time{} }), err: domain.ErrInvalid, field: "at"},
	})
}

func TestAddTracking(t *testing.T) {
	t.Parallel()
	track := order.AddTracking{TrackingCode: " 3SABC123 ", TrackingURL: "https://tracking.example.com/3SABC123", Carrier: "PostNL", TrackAndTraceEnabled: true, At: t1}
	withURL := func(u string) order.AddTracking { c := track; c.TrackingURL = u; return c }
	run(t, []tc{
		{name: "a delivery order is sent", given: []order.Event{cartCreated()}, when: track, then: []order.Event{sent}},
		{name: "http is accepted and the carrier is optional", given: []order.Event{cartCreated()},
			when: order.AddTracking{TrackingCode: "X1", TrackingURL: "http://t.example/x1", TrackAndTraceEnabled: true, At: t1},
			then: []order.Event{order.Sent{OrderID: oid, Number: num, CustomerID: cid, TrackingCode: "X1", TrackingURL: "http://t.example/x1", SentAt: t1}}},
		{name: "the subscription is named on a shipment's events",
			given: []order.Event{func() order.Created { e := cartCreated(); e.SubscriptionID = sid; return e }()},
			when:  track,
			then:  []order.Event{func() order.Sent { e := sent; e.SubscriptionID = sid; return e }()}},
		{name: "while track and trace is off", given: []order.Event{cartCreated()}, when: func() order.AddTracking { c := track; c.TrackAndTraceEnabled = false; return c }(), err: order.ErrTrackAndTraceDisabled},
		{name: "a pickup order has no tracking", given: []order.Event{pickupCreated()}, when: track, err: order.ErrPickupOrderNoTracking},
		{name: "a pickup order says so whatever the setting", given: []order.Event{pickupCreated()}, when: func() order.AddTracking { c := track; c.TrackAndTraceEnabled = false; return c }(), err: order.ErrPickupOrderNoTracking},
		{name: "a canceled order", given: []order.Event{cartCreated(), canceled}, when: track, err: order.ErrOrderCanceled},
		{name: "no order", when: track, err: order.ErrOrderNotFound},
		{name: "the same tracking again is a no-op", given: []order.Event{cartCreated(), sent}, when: func() order.AddTracking { c := track; c.At = t2; return c }()},
		{name: "other tracking on a sent order is a correction", given: []order.Event{cartCreated(), sent},
			when: order.AddTracking{TrackingCode: "3SXYZ999", TrackingURL: "https://tracking.example.com/3SXYZ999", Carrier: "DHL", TrackAndTraceEnabled: true, At: t2},
			then: []order.Event{order.TrackingCorrected{OrderID: oid, Number: num, CustomerID: cid, TrackingCode: "3SXYZ999", TrackingURL: "https://tracking.example.com/3SXYZ999", Carrier: "DHL", CorrectedAt: t2}}},
		{name: "no correction while track and trace is off", given: []order.Event{cartCreated(), sent},
			when: order.AddTracking{TrackingCode: "3SXYZ999", TrackingURL: "https://tracking.example.com/3SXYZ999", At: t2}, err: order.ErrTrackAndTraceDisabled},
		{name: "no tracking code", given: []order.Event{cartCreated()}, when: func() order.AddTracking { c := track; c.TrackingCode = "  "; return c }(), err: domain.ErrInvalid, field: "tracking_code"},
		{name: "a carrier too long", given: []order.Event{cartCreated()}, when: func() order.AddTracking { c := track; c.Carrier = string(make([]byte, 101)); return c }(), err: domain.ErrInvalid, field: "carrier"},
		{name: "no URL", given: []order.Event{cartCreated()}, when: withURL(""), err: domain.ErrInvalid, field: "tracking_url"},
		{name: "not a URL", given: []order.Event{cartCreated()}, when: withURL("tracking code 123"), err: domain.ErrInvalid, field: "tracking_url"},
		{name: "a relative URL", given: []order.Event{cartCreated()}, when: withURL("/track/123"), err: domain.ErrInvalid, field: "tracking_url"},
		{name: "an ftp URL", given: []order.Event{cartCreated()}, when: withURL("ftp://tracking.example.com/1"), err: domain.ErrInvalid, field: "tracking_url"},
		{name: "a javascript URL", given: []order.Event{cartCreated()}, when: withURL("javascript:alert(1)"), err: domain.ErrInvalid, field: "tracking_url"},
		{name: "a URL without a host", given: []order.Event{cartCreated()}, when: withURL("https:///path"), err: domain.ErrInvalid, field: "tracking_url"},
		{name: "a URL with credentials", given: []order.Event{cartCreated()}, when: withURL("https://user:pw@tracking.example.com/1"), err: domain.ErrInvalid, field: "tracking_url"},
		{name: "a URL with a control character", given: []order.Event{cartCreated()}, when: withURL("https://tracking.example.com/1\x7f2"), err: domain.ErrInvalid, field: "tracking_url"},
		{name: "no time", given: []order.Event{cartCreated()}, when: func() order.AddTracking { c := track; c.At = time.Time{}; return c }(), err: domain.ErrInvalid, field: "at"},
	})
}

func TestErrTrackAndTraceDisabledIsTheAPICode(t *testing.T) {
	t.Parallel()
	require.Equal(t, "track_and_trace_disabled", order.ErrTrackAndTraceDisabled.Code)
	require.Equal(t, domain.KindConflict, order.ErrTrackAndTraceDisabled.Kind)
}

func TestConfirmPickup(t *testing.T) {
	t.Parallel()
	run(t, []tc{
		{name: "a pickup order is picked up", given: []order.Event{pickupCreated()}, when: order.ConfirmPickup{At: t1}, then: []order.Event{pickedUp}},
		{name: "confirming twice is a no-op", given: []order.Event{pickupCreated(), pickedUp}, when: order.ConfirmPickup{At: t2}},
		{name: "a delivery order is not picked up", given: []order.Event{cartCreated()}, when: order.ConfirmPickup{At: t1}, err: order.ErrDeliveryOrderNoPickup},
		{name: "a canceled order", given: []order.Event{pickupCreated(), canceled}, when: order.ConfirmPickup{At: t1}, err: order.ErrOrderCanceled},
		{name: "no order", when: order.ConfirmPickup{At: t1}, err: order.ErrOrderNotFound},
		{name: "no time", given: []order.Event{pickupCreated()}, when: order.ConfirmPickup{}, err: domain.ErrInvalid, field: "at"},
	})
}

func TestCancel(t *testing.T) {
	t.Parallel()
	run(t, []tc{
		{name: "an order to be sent", given: []order.Event{cartCreated()}, when: order.Cancel{Reason: " customer asked ", At: t1},
			then: []order.Event{order.Canceled{OrderID: oid, Number: num, CustomerID: cid, Reason: "customer asked", CanceledAt: t1}}},
		{name: "an order to be picked up", given: []order.Event{pickupCreated()}, when: order.Cancel{At: t1}, then: []order.Event{canceled}},
		{name: "the linked invoice is named for the reactor that voids or refunds it", given: []order.Event{cartCreated(), linked}, when: order.Cancel{At: t1},
			then: []order.Event{order.Canceled{OrderID: oid, Number: num, CustomerID: cid, InvoiceID: iid, CanceledAt: t1}}},
		{name: "canceling twice is a no-op", given: []order.Event{cartCreated(), canceled}, when: order.Cancel{At: t2}},
		{name: "a sent order", given: []order.Event{cartCreated(), sent}, when: order.Cancel{At: t2}, err: order.ErrOrderAlreadySent},
		{name: "a picked-up order", given: []order.Event{pickupCreated(), pickedUp}, when: order.Cancel{At: t2}, err: order.ErrOrderAlreadyPickedUp},
		{name: "no order", when: order.Cancel{At: t1}, err: order.ErrOrderNotFound},
		{name: "a reason with a control character", given: []order.Event{cartCreated()}, when: order.Cancel{Reason: "a\x00b", At: t1}, err: domain.ErrInvalid, field: "reason"},
		{name: "no time", given: []order.Event{cartCreated()}, when: order.Cancel{}, err: domain.ErrInvalid, field: "at"},
	})
}

func TestLinkInvoice(t *testing.T) {
	t.Parallel()
	link := order.LinkInvoice{InvoiceID: iid, InvoiceNumber: inum, At: t0}
	run(t, []tc{
		{name: "the order's invoice", given: []order.Event{cartCreated()}, when: link, then: []order.Event{linked}},
		{name: "a canceled order's invoice is still linked", given: []order.Event{cartCreated(), canceled}, when: link, then: []order.Event{linked}},
		{name: "the same invoice again is a no-op", given: []order.Event{cartCreated(), linked}, when: link},
		{name: "another invoice", given: []order.Event{cartCreated(), linked}, when: order.LinkInvoice{InvoiceID: "inv_2", InvoiceNumber: "INV-2026-000043", At: t1}, err: order.ErrInvoiceAlreadyLinked},
		{name: "no order", when: link, err: order.ErrOrderNotFound},
		{name: "bad invoice id", given: []order.Event{cartCreated()}, when: order.LinkInvoice{InvoiceID: "ord_1", InvoiceNumber: inum, At: t0}, err: domain.ErrInvalid, field: "invoice_id"},
		{name: "bad invoice number", given: []order.Event{cartCreated()}, when: order.LinkInvoice{InvoiceID: iid, InvoiceNumber: "INV-42", At: t0}, err: domain.ErrInvalid, field: "invoice_number"},
		{name: "no time", given: []order.Event{cartCreated()}, when: order.LinkInvoice{InvoiceID: iid, InvoiceNumber: inum}, err: domain.ErrInvalid, field: "at"},
	})
}

// TestState folds whole histories into what the order page shows.
func TestState(t *testing.T) {
	t.Parallel()
	require.False(t, order.Fold().Exists())

	corrected := order.TrackingCorrected{OrderID: oid, Number: num, CustomerID: cid, TrackingCode: "NEW", TrackingURL: "https://t.example/new", Carrier: "DHL", CorrectedAt: t2}
	s := order.Fold(cartCreated(), linked, sent, corrected)
	require.Equal(t, order.State{
		ID: oid, Number: num, CustomerID: cid, Status: order.StatusSent, DeliveryMethod: order.Delivery,
		BillingAddress: nl, Items: cartCreated().Items,
		Subtotal: domain.Cents(3419), Discount: domain.Cents(500), VAT: order.VAT{RateBP: 2100, Amount: domain.Cents(507)}, Total: domain.Cents(2919),
		Shipping:  &order.Shipping{TrackingCode: "NEW", TrackingURL: "https://t.example/new", Carrier: "DHL", SentAt: t1, CorrectedAt: ptr(t2)},
		Invoice:   &order.InvoiceRef{ID: iid, Number: inum},
		CreatedAt: t0, ShippedOn: day,
	}, s)

	s = order.Fold(pickupCreated())
	require.Equal(t, order.StatusToBePickedUp, s.Status)
	s = order.Evolve(s, pickedUp)
	require.Equal(t, order.StatusPickedUp, s.Status)
	require.Equal(t, &order.PickupInfo{PickedUpAt: t1}, s.Pickup)

	s = order.Fold(cartCreated(), order.Canceled{OrderID: oid, Number: num, CustomerID: cid, Reason: "r", CanceledAt: t1})
	require.Equal(t, order.StatusCanceled, s.Status)
	require.Equal(t, ptr(t1), s.CanceledAt)
	require.Equal(t, "r", s.CancelReason)

	// Folding is deterministic and does not share memory with the events.
	e := cartCreated()
	e.ShippingAddress = &de
	a, b := order.Fold(e), order.Fold(e)
	require.Equal(t, a, b)
	a.Items[0].Name = "changed"
	a.ShippingAddress.City = "changed"
	require.Equal(t, "Coffee beans", e.Items[0].Name)
	require.Equal(t, "Berlin", e.ShippingAddress.City)

	require.Equal(t, "order-ord_1", order.Stream(oid))
	require.Equal(t, s, order.Aggregate.Fold(cartCreated(), order.Canceled{OrderID: oid, Number: num, CustomerID: cid, Reason: "r", CanceledAt: t1}))
}

// TestCodec pins every stored type name and round-trips one of each event.
func TestCodec(t *testing.T) {
	t.Parallel()
	full := cartCreated()
	full.SubscriptionID = sid
	full.ShippingAddress = &de
	events := map[string]order.Event{
		"order.created":            full,
		"order.sent":               sent,
		"order.tracking_corrected": order.TrackingCorrected{OrderID: oid, Number: num, CustomerID: cid, SubscriptionID: sid, TrackingCode: "N", TrackingURL: "https://t.example/n", Carrier: "DHL", CorrectedAt: t2},
		"order.picked_up":          pickedUp,
		"order.canceled":           order.Canceled{OrderID: oid, Number: num, CustomerID: cid, SubscriptionID: sid, InvoiceID: iid, Reason: "r", CanceledAt: t1},
		"order.invoice_linked":     linked,
	}
	for name, e := range events {
		require.Equal(t, name, e.EventType())
		require.True(t, order.Codec.Knows(name))
		stored, data, err := order.Codec.Encode(e)
		require.NoError(t, err)
		require.Equal(t, name, stored)
		back, err := order.Codec.Decode(stored, data)
		require.NoError(t, err)
		require.Equal(t, e, back, name)
	}

	_, data, err := order.Codec.Encode(cartCreated())
	require.NoError(t, err)
	require.JSONEq(t, `{
		"order_id": "ord_1", "number": "ORD-000123", "customer_id": "cus_1", "ship_on": "2026-11-21",
		"delivery_method": "delivery",
		"billing_address": {"street": "Damrak 1", "zipcode": "1012 LG", "city": "Amsterdam", "country": "NL"},
		"items": [
			{"product_id": "beans", "name": "Coffee beans", "quantity": 2, "unit_price": {"amount": 1210, "currency": "EUR"},
			 "total": {"amount": 2420, "currency": "EUR"}, "discount": {"amount": 354, "currency": "EUR"},
			 "net": {"amount": 2066, "currency": "EUR"}, "vat": {"amount": 359, "currency": "EUR"}},
			{"product_id": "descaler", "name": "Descaler", "quantity": 1, "unit_price": {"amount": 999, "currency": "EUR"},
			 "total": {"amount": 999, "currency": "EUR"}, "discount": {"amount": 146, "currency": "EUR"},
			 "net": {"amount": 853, "currency": "EUR"}, "vat": {"amount": 148, "currency": "EUR"}}
		],
		"subtotal": {"amount": 3419, "currency": "EUR"}, "discount": {"amount": 500, "currency": "EUR"},
		"total": {"amount": 2919, "currency": "EUR"}, "vat_rate_bp": 2100, "vat": {"amount": 507, "currency": "EUR"},
		"created_at": "2026-11-21T10:00:00Z"
	}`, string(data), "the stored shape is snake_case and changes only with an upcaster")
}
