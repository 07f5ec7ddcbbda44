package projections

import (
	"context"
	"fmt"

	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/order"
)

// orderPage is GET /v1/orders/{id}: API.md's order page.
//
// Document:
//
//	{"id", "version" (the order stream's), "number", "status", "delivery_method", "customer_id",
//	 "subscription_id"|null, "created_at", "shipped_on", "canceled_at"|null, "cancel_reason"|null,
//	 "billing_address", "shipping_address" (where it ships: the billing address when the order has no other),
//	 "items": [{product_id|null, name, quantity, unit_price, total, included_in_plan}],
//	 "subtotal", "discount", "vat": {rate_bp, amount}, "total",
//	 "shipping": {tracking_code, tracking_url, carrier, sent_at, corrected_at}|null,
//	 "pickup": {picked_up_at}|null,
//	 "invoice": {id, number, pdf_url, stripe_dashboard_url, stripe_refund_url}|null}
//
// shipping is an object (its fields null until sent) for a delivery order
// and null for a pickup order; pickup the other way round, so the page can
// show the section of the order's delivery method. The invoice's Stripe
// links are the payment page of its latest attempt's payment intent (where
// a refund is made too), null until Stripe made one.
type orderPage struct{}

type orderPageState struct {
	Version uint64      `json:"version"`
	Order   order.State `json:"order"`
	// The invoice that charges the order, from order.invoice_linked or the
	// invoice's own invoice.created, whichever comes first.
	InvoiceID       string `json:"invoice_id"`
	InvoiceNumber   string `json:"invoice_number"`
	PaymentIntentID string `json:"payment_intent_id"`
}

var orderPageTypes = types(append(orderTypes, invoiceTypes...)...)

func (orderPage) Name() string            { return "order" }
func (orderPage) Version() int            { return 1 }
func (orderPage) Handles(typ string) bool { return orderPageTypes[typ] }
func (orderPage) Indexes() []string       { return nil }

func (orderPage) Apply(ctx context.Context, s *Session, e Event) error {
	switch ev := e.Data.(type) {
	case order.Event:
		id := idOf(e.StreamID, order.StreamPrefix)
		st, err := Get[orderPageState](ctx, s, kindOrder, id)
		if err != nil {
			return err
		}
		if st == nil {
			st = &orderPageState{}
		}
		st.Version = e.Version
		st.Order = order.Evolve(st.Order, ev)
		if l, ok := ev.(order.InvoiceLinked); ok {
			st.InvoiceID, st.InvoiceNumber = string(l.InvoiceID), string(l.InvoiceNumber)
		}
		Put(s, kindOrder, id, st)
	case invoice.Event:
		id := idOf(e.StreamID, invoice.StreamPrefix)
		inv, err := Get[invoice.State](ctx, s, kindInvoice, id)
		if err != nil {
			return err
		}
		if inv == nil {
			inv = &invoice.State{}
		}
		*inv = evolveInvoice(*inv, ev, false)
		Put(s, kindInvoice, id, inv)
		if inv.OrderID == "" {
			return nil
		}
		st, err := Get[orderPageState](ctx, s, kindOrder, string(inv.OrderID))
		if err != nil {
			return err
		}
		if st == nil {
			st = &orderPageState{}
		}
		if st.InvoiceID == "" || st.InvoiceID == id {
			st.InvoiceID, st.InvoiceNumber, st.PaymentIntentID = id, string(inv.Number), inv.StripePaymentIntentID
		}
		Put(s, kindOrder, string(inv.OrderID), st)
	}
	return nil
}

func (orderPage) Render(kind, id string, state any) (Document, bool, error) {
	switch st := state.(type) {
	case *orderPageState:
		if !st.Order.Exists() {
			return Document{}, false, nil
		}
		return st.render(id), true, nil
	case *invoice.State:
		return Document{}, false, nil
	}
	return Document{}, false, fmt.Errorf("order: unexpected state %s %T", kind, state)
}

func (st *orderPageState) render(id string) Document {
	o := &st.Order
	w := &jsonWriter{b: make([]byte, 0, 1536)}
	w.obj()
	w.key("id")
	w.str(id)
	w.key("version")
	w.int(int64(st.Version))
	w.key("number")
	w.str(string(o.Number))
	w.key("status")
	w.str(string(o.Status))
	w.key("delivery_method")
	w.str(string(o.DeliveryMethod))
	w.key("customer_id")
	w.str(string(o.CustomerID))
	w.key("subscription_id")
	w.strOrNull(string(o.SubscriptionID))
	w.key("created_at")
	w.time(o.CreatedAt)
	w.key("shipped_on")
	w.date(o.ShippedOn)
	w.key("canceled_at")
	w.timePtr(o.CanceledAt)
	w.key("cancel_reason")
	w.strOrNull(o.CancelReason)
	w.key("billing_address")
	w.address(o.BillingAddress)
	// The page's Details section shows where the parcel goes; an order
	// without its own shipping address ships to the billing address.
	w.key("shipping_address")
	if o.ShippingAddress != nil {
		w.address(*o.ShippingAddress)
	} else {
		w.address(o.BillingAddress)
	}
	w.key("items")
	w.arr()
	for _, it := range o.Items {
		w.obj()
		w.key("product_id")
		w.strOrNull(string(it.ProductID))
		w.key("name")
		w.str(it.Name)
		w.key("quantity")
		w.int(int64(it.Quantity))
		w.key("unit_price")
		w.money(it.UnitPrice)
		w.key("total")
		w.money(it.Total)
		w.key("included_in_plan")
		w.bool(it.IncludedInPlan)
		w.end()
	}
	w.endArr()
	w.key("subtotal")
	w.money(o.Subtotal)
	w.key("discount")
	w.moneyOr(o.Discount, o.Total.Currency())
	w.key("vat")
	w.obj()
	w.key("rate_bp")
	w.int(int64(o.VAT.RateBP))
	w.key("amount")
	w.money(o.VAT.Amount)
	w.end()
	w.key("total")
	w.money(o.Total)

	w.key("shipping")
	if o.DeliveryMethod == order.Delivery {
		sh := o.Shipping
		if sh == nil {
			sh = &order.Shipping{}
		}
		w.obj()
		w.key("tracking_code")
		w.strOrNull(sh.TrackingCode)
		w.key("tracking_url")
		w.strOrNull(sh.TrackingURL)
		w.key("carrier")
		w.strOrNull(sh.Carrier)
		w.key("sent_at")
		w.time(sh.SentAt)
		w.key("corrected_at")
		w.timePtr(sh.CorrectedAt)
		w.end()
	} else {
		w.null()
	}
	w.key("pickup")
	if o.DeliveryMethod == order.Pickup {
		w.obj()
		w.key("picked_up_at")
		if o.Pickup != nil {
			w.time(o.Pickup.PickedUpAt)
		} else {
			w.null()
		}
		w.end()
	} else {
		w.null()
	}

	w.key("invoice")
	if st.InvoiceID != "" {
		w.obj()
		w.key("id")
		w.str(st.InvoiceID)
		w.key("number")
		w.strOrNull(st.InvoiceNumber)
		w.key("pdf_url")
		w.str("/v1/invoices/" + st.InvoiceID + "/pdf")
		w.key("stripe_dashboard_url")
		w.strOrNull(stripePayment(st.PaymentIntentID))
		w.key("stripe_refund_url")
		w.strOrNull(stripePayment(st.PaymentIntentID))
		w.end()
	} else {
		w.null()
	}
	w.end()
	return Document{JSON: w.bytes(), Version: st.Version, Parent: string(o.CustomerID), SortAt: o.CreatedAt}
}
