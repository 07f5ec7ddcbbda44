package command

import (
	"context"
	"fmt"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/order"
	"github.com/subsd/subsd/domain/settings"
	"github.com/subsd/subsd/domain/subscription"
	"github.com/subsd/subsd/eventstore"
)

// OrderResult is an order after a use case, with its invoice when the use
// case created or touched one.
type OrderResult struct {
	Order order.State
	Written
	// Invoice is the order's invoice, made with it when the order is
	// charged (its total is above zero); nil otherwise.
	Invoice *InvoiceResult
}

// InvoiceResult is an invoice after a use case.
type InvoiceResult struct {
	Invoice invoice.State
	Written
}

// NewOrder is a one-off order as POST /v1/orders gives it.
type NewOrder struct {
	CustomerID     domain.CustomerID
	Items          []domain.Line
	DeliveryMethod order.DeliveryMethod
	// Discount's zero Money means none.
	Discount domain.Money
	// BillingAddress nil means the customer's address.
	BillingAddress *domain.Address
	// ShippingAddress nil means the customer's shipping address, or, when
	// the customer has none, the billing address.
	ShippingAddress *domain.Address
}

// placeholderOrderNumber and placeholderInvoiceNumber stand in for the
// real numbers while a document is validated, before its number is
// reserved: a number is reserved only for a document that will be created.
const (
	placeholderOrderNumber   domain.OrderNumber   = "ORD-000001"
	placeholderInvoiceNumber domain.InvoiceNumber = "INV-2000-000001"
)

// CreateOrder places a one-off order: order.created (numbered ORD-…,
// status to_be_sent or to_be_picked_up), and, since a one-off order is
// charged at once, its invoice: invoice.created (numbered INV-<year>-…)
// and order.invoice_linked. The charge itself (Stripe) is made by the
// payment reactor from invoice.created (issue 5). An order whose total is
// zero (fully discounted) has no invoice.
//
// The customer must exist (customer.ErrCustomerNotFound naming
// customer_id). Validation errors name the request field (items[1].quantity,
// discount.amount, shipping_address.country, ...); a shipping country
// without a VAT rate is 409 vat_rate_unknown.
func (s *Service) CreateOrder(ctx context.Context, md eventstore.Metadata, in NewOrder) (OrderResult, error) {
	md, now := s.begin(md)
	cust, err := s.orderCustomer(ctx, in.CustomerID)
	if err != nil {
		return OrderResult{}, err
	}
	c := order.Create{
		OrderID:         domain.OrderID(NewID(domain.OrderPrefix)),
		CustomerID:      cust.ID,
		ShipOn:          s.today(now),
		DeliveryMethod:  in.DeliveryMethod,
		BillingAddress:  cust.Address,
		ShippingAddress: cust.ShippingAddress,
		Items:           in.Items,
		Discount:        in.Discount,
		VATRates:        s.rates,
		At:              now,
	}
	if in.BillingAddress != nil {
		c.BillingAddress = *in.BillingAddress
	}
	if in.ShippingAddress != nil {
		c.ShippingAddress = in.ShippingAddress
	}
	for i, l := range c.Items {
		if l.IncludedInPlan {
			return OrderResult{}, domain.Invalid(fmt.Sprintf("items[%d]", i), "a one-off order has no products included in a plan")
		}
	}
	return s.placeOrder(ctx, md, cust, c)
}

// CreateShipmentOrder makes the order of a subscription shipment from its
// subscription.shipment_due event: order.created for the due day, shipped
// to the customer's addresses, and, for a product with its own price, the
// order's invoice (invoice.created + order.invoice_linked). ShipNow calls
// it at once; the shipping reactor of issue 5 calls it for scheduled
// shipments (and again after a crash between the two appends). It is
// idempotent: the order id is the event's, its number is reserved per order
// id, and creating an order or invoice again with the same id and number is
// a no-op.
func (s *Service) CreateShipmentOrder(ctx context.Context, md eventstore.Metadata, due subscription.ShipmentDue) (OrderResult, error) {
	md, _ = s.begin(md)
	var currency domain.Currency
	if due.UnitPrice == nil {
		sub, _, err := eventstore.Load(ctx, s.store, subscription.Aggregate, subscription.Stream(due.SubscriptionID))
		if err != nil {
			return OrderResult{}, err
		}
		if !sub.Exists() {
			return OrderResult{}, subscription.ErrSubscriptionNotFound
		}
		currency = sub.Plan.Price.Currency()
	}
	return s.shipmentOrder(ctx, md, due, currency)
}

func (s *Service) shipmentOrder(ctx context.Context, md eventstore.Metadata, due subscription.ShipmentDue, currency domain.Currency) (OrderResult, error) {
	cust, err := s.Customer(ctx, due.CustomerID)
	if err != nil {
		return OrderResult{}, err
	}
	line := domain.Line{ProductID: due.ProductID, Name: due.Name, Quantity: due.Quantity}
	if due.UnitPrice != nil {
		line.UnitPrice = *due.UnitPrice
	} else {
		line.UnitPrice, line.IncludedInPlan = domain.Zero(currency), true
	}
	c := order.Create{
		OrderID:         due.OrderID,
		CustomerID:      due.CustomerID,
		SubscriptionID:  due.SubscriptionID,
		ShipOn:          due.DueOn,
		DeliveryMethod:  order.DeliveryMethod(due.DeliveryMethod),
		BillingAddress:  cust.Customer.Address,
		ShippingAddress: cust.Customer.ShippingAddress,
		Items:           []domain.Line{line},
		VATRates:        s.rates,
		At:              md.OccurredAt,
	}
	return s.placeOrder(ctx, md, cust.Customer, c)
}

// placeOrder validates c, reserves its number, creates the order and, when
// it costs something, its invoice.
func (s *Service) placeOrder(ctx context.Context, md eventstore.Metadata, cust customer.State, c order.Create) (OrderResult, error) {
	probe := c
	probe.Number = placeholderOrderNumber
	created, err := order.Decide(order.State{}, probe)
	if err != nil {
		return OrderResult{}, err
	}
	// The invoice is validated too before any number is reserved.
	if _, err := s.orderInvoice(cust, created[0].(order.Created), placeholderInvoiceNumber); err != nil {
		return OrderResult{}, err
	}
	if c.Number, err = s.numbers.Order(ctx, c.OrderID); err != nil {
		return OrderResult{}, err
	}
	res, w, err := execute(ctx, s, order.Aggregate, order.Stream(c.OrderID), options(md, nil), order.Command(c))
	if err != nil {
		return OrderResult{}, err
	}
	return s.invoiceOrder(ctx, md, cust, OrderResult{Order: res.State, Written: w})
}

// EnsureOrderInvoice creates and links the invoice of an order that costs
// something and has none yet: the repair of a crash between creating an
// order and its invoice, for the reactor of order.created (issue 5). It is
// a no-op for an order that has its invoice or costs nothing.
func (s *Service) EnsureOrderInvoice(ctx context.Context, md eventstore.Metadata, id domain.OrderID) (OrderResult, error) {
	md, _ = s.begin(md)
	if _, err := domain.ParseOrderID(string(id)); err != nil {
		return OrderResult{}, order.ErrOrderNotFound
	}
	st, v, err := eventstore.Load(ctx, s.store, order.Aggregate, order.Stream(id))
	if err != nil {
		return OrderResult{}, err
	}
	if !st.Exists() {
		return OrderResult{}, order.ErrOrderNotFound
	}
	out := OrderResult{Order: st, Written: Written{Version: v}}
	if out.Position, err = s.streamPosition(ctx, order.Stream(id), v); err != nil {
		return OrderResult{}, err
	}
	cust, err := s.Customer(ctx, st.CustomerID)
	if err != nil {
		return OrderResult{}, err
	}
	return s.invoiceOrder(ctx, md, cust.Customer, out)
}

// invoiceOrder creates (or finds) the invoice of the order in o and links
// it, when the order costs something and is not linked yet.
func (s *Service) invoiceOrder(ctx context.Context, md eventstore.Metadata, cust customer.State, o OrderResult) (OrderResult, error) {
	st := o.Order
	if !st.Total.IsPositive() {
		return o, nil
	}
	if st.Invoice != nil {
		inv, _, err := eventstore.Load(ctx, s.store, invoice.Aggregate, invoice.Stream(st.Invoice.ID))
		if err != nil {
			return OrderResult{}, err
		}
		o.Invoice = &InvoiceResult{Invoice: inv}
		return o, nil
	}
	created := order.Created{
		OrderID: st.ID, Number: st.Number, CustomerID: st.CustomerID, SubscriptionID: st.SubscriptionID,
		BillingAddress: st.BillingAddress, ShippingAddress: st.ShippingAddress, Items: st.Items,
		Discount: st.Discount, CreatedAt: st.CreatedAt,
	}
	id := OrderInvoiceID(st.ID)
	number, err := s.numbers.Invoice(ctx, id, st.CreatedAt)
	if err != nil {
		return OrderResult{}, err
	}
	ic, err := s.orderInvoice(cust, created, number)
	if err != nil {
		return OrderResult{}, err
	}
	ir, iw, err := execute(ctx, s, invoice.Aggregate, invoice.Stream(id), options(md, nil), invoice.Command(ic))
	if err != nil {
		return OrderResult{}, err
	}
	o.Invoice = &InvoiceResult{Invoice: ir.State, Written: iw}
	link := order.LinkInvoice{InvoiceID: id, InvoiceNumber: number, At: md.OccurredAt}
	res, w, err := execute(ctx, s, order.Aggregate, order.Stream(st.ID), options(md, nil), order.Command(link))
	if err != nil {
		return OrderResult{}, err
	}
	o.Order, o.Written = res.State, w
	return o, nil
}

// orderInvoice returns the invoice.Create of an order that costs something
// (numbered number), validated; the zero Create for one that costs
// nothing. Its lines are the order's, so the invoice shows the order's VAT.
func (s *Service) orderInvoice(cust customer.State, o order.Created, number domain.InvoiceNumber) (invoice.Create, error) {
	var total domain.Money
	lines := make([]domain.Line, len(o.Items))
	for i, it := range o.Items {
		lines[i] = domain.Line{ProductID: it.ProductID, Name: it.Name, Quantity: it.Quantity, UnitPrice: it.UnitPrice, IncludedInPlan: it.IncludedInPlan}
		total, _ = total.Add(it.Net)
	}
	if !total.IsPositive() {
		return invoice.Create{}, nil
	}
	c := invoice.Create{
		InvoiceID:       OrderInvoiceID(o.OrderID),
		Number:          number,
		CustomerID:      o.CustomerID,
		CustomerName:    cust.Name(),
		SubscriptionID:  o.SubscriptionID,
		OrderID:         o.OrderID,
		Lines:           lines,
		Discount:        o.Discount,
		BillingAddress:  o.BillingAddress,
		ShippingAddress: o.ShippingAddress,
		VATRates:        s.rates,
		DueOn:           s.today(o.CreatedAt),
		At:              o.CreatedAt,
	}
	if _, err := invoice.Decide(invoice.State{}, c); err != nil {
		return invoice.Create{}, fmt.Errorf("validating the invoice of order %s: %w", o.OrderID, err)
	}
	return c, nil
}

// AddTracking records that a delivery order was handed to the carrier
// (order.sent, or order.tracking_corrected for a new code on a sent
// order), which the email reactor turns into the shipping_confirmation or
// track_and_trace email. The track & trace setting is read from the
// settings aggregate: while it is off this is 409 track_and_trace_disabled.
func (s *Service) AddTracking(ctx context.Context, md eventstore.Metadata, id domain.OrderID, code, url, carrier string, ifMatch *uint64) (OrderResult, error) {
	md, now := s.begin(md)
	st, _, err := eventstore.Load(ctx, s.store, settings.Aggregate, settings.Stream())
	if err != nil {
		return OrderResult{}, err
	}
	return s.orderCommand(ctx, md, id, ifMatch, order.AddTracking{
		TrackingCode: code, TrackingURL: url, Carrier: carrier,
		TrackAndTraceEnabled: st.Email().TrackAndTraceEnabled, At: now,
	})
}

// ConfirmPickup records that the customer collected a pickup order
// (order.picked_up with the time); a second confirmation is a no-op.
func (s *Service) ConfirmPickup(ctx context.Context, md eventstore.Metadata, id domain.OrderID, ifMatch *uint64) (OrderResult, error) {
	md, now := s.begin(md)
	return s.orderCommand(ctx, md, id, ifMatch, order.ConfirmPickup{At: now})
}

func (s *Service) orderCommand(ctx context.Context, md eventstore.Metadata, id domain.OrderID, ifMatch *uint64, c order.Command) (OrderResult, error) {
	if _, err := domain.ParseOrderID(string(id)); err != nil {
		return OrderResult{}, order.ErrOrderNotFound
	}
	res, w, err := execute(ctx, s, order.Aggregate, order.Stream(id), options(md, ifMatch), c)
	if err != nil {
		return OrderResult{}, err
	}
	return OrderResult{Order: res.State, Written: w}, nil
}

// orderCustomer loads the customer a request names in customer_id: an
// unknown one is customer.ErrCustomerNotFound naming customer_id, an erased
// one customer.ErrPersonalDataErased (there is no address to use).
func (s *Service) orderCustomer(ctx context.Context, id domain.CustomerID) (customer.State, error) {
	if _, err := domain.ParseCustomerID(string(id)); err != nil {
		return customer.State{}, err
	}
	c, err := s.Customer(ctx, id)
	if err != nil {
		return customer.State{}, domain.PrefixField("customer_id", err)
	}
	if c.Customer.Erased {
		return customer.State{}, customer.ErrPersonalDataErased.WithField("customer_id")
	}
	return c.Customer, nil
}
