package command

import (
	"context"
	"fmt"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/subscription"
	"github.com/subsd/subsd/eventstore"
)

// SubscriptionResult is a subscription after a use case.
type SubscriptionResult struct {
	Subscription subscription.State
	Written
	// Events are what the use case appended to the subscription's stream
	// (none for an idempotent repeat).
	Events []subscription.Event
	// Invoice is the charge invoice the use case created (CreateSubscription's
	// first charge, ChargeDue's cycle); nil otherwise.
	Invoice *InvoiceResult
	// Order is the order ShipNow made; nil otherwise.
	Order *OrderResult
}

// CreateSubscription starts a subscription for an existing customer under a
// fresh "sub_" id; c's SubscriptionID, At and Location are set by the
// service. A product without FirstShipmentOn ships first today (in the
// business time zone); one without an Interval ships every plan interval. The subscription is pending until its first charge
// is paid.
//
// It appends, in one append to the subscription's stream,
// subscription.created and subscription.charge_due for the first charge
// (due at sign-up), then creates that charge's invoice (invoice.created,
// numbered INV-<year>-…, id ChargeInvoiceID(sub, 1)). Taking the payment
// is the payment reactor's, from invoice.created (issue 5), exactly as for
// every later cycle (whose charge_due and invoice the charge scheduler
// records through ChargeDue) and every charged order.
//
// The customer must exist (customer.ErrCustomerNotFound naming
// customer_id) and live in a country with a VAT rate (409
// vat_rate_unknown): both are checked before anything is appended.
func (s *Service) CreateSubscription(ctx context.Context, md eventstore.Metadata, c subscription.Create) (SubscriptionResult, error) {
	md, now := s.begin(md)
	cust, err := s.orderCustomer(ctx, c.CustomerID)
	if err != nil {
		return SubscriptionResult{}, err
	}
	if _, err := s.rates.RateFor(cust.Address, cust.ShippingAddress); err != nil {
		return SubscriptionResult{}, domain.Conflict("vat_rate_unknown",
			"no VAT rate is configured for the customer's country, so the subscription cannot be charged").WithField("customer_id")
	}
	c.SubscriptionID = domain.SubscriptionID(NewID(domain.SubscriptionPrefix))
	c.At, c.Location = now, s.location
	today := s.today(now)
	for i := range c.Products {
		if c.Products[i].FirstShipmentOn.IsZero() {
			c.Products[i].FirstShipmentOn = today
		}
		if c.Products[i].Interval == (domain.Interval{}) {
			c.Products[i].Interval = c.Plan.Interval
		}
	}
	first := subscription.RecordChargeDue{SubscriptionID: c.SubscriptionID, InvoiceID: ChargeInvoiceID(c.SubscriptionID, 1), At: now, Location: s.location}
	res, w, err := execute(ctx, s, subscription.Aggregate, subscription.Stream(c.SubscriptionID), options(md, nil), subscription.Command(c), subscription.Command(first))
	if err != nil {
		return SubscriptionResult{}, err
	}
	out := SubscriptionResult{Subscription: res.State, Written: w, Events: res.Events}
	for _, e := range res.Events {
		if due, ok := e.(subscription.ChargeDue); ok {
			inv, err := s.chargeInvoice(ctx, md, cust, due)
			if err != nil {
				return SubscriptionResult{}, err
			}
			out.Invoice = &inv
			out.Position = later(out.Position, inv.Position)
		}
	}
	return out, nil
}

// ChargeDue records the subscription's next charge when it has come
// (subscription.charge_due, 409 charge_not_due before next_charge_at) and
// creates its invoice. It is the charge scheduler's use case (issue 5) and
// is idempotent per cycle: the invoice id is ChargeInvoiceID(sub, cycle),
// so a retried job records nothing twice and finds the invoice made.
func (s *Service) ChargeDue(ctx context.Context, md eventstore.Metadata, id domain.SubscriptionID) (SubscriptionResult, error) {
	md, now := s.begin(md)
	cur, _, err := eventstore.Load(ctx, s.store, subscription.Aggregate, subscription.Stream(id))
	if err != nil {
		return SubscriptionResult{}, err
	}
	if !cur.Exists() {
		return SubscriptionResult{}, subscription.ErrSubscriptionNotFound
	}
	c := subscription.RecordChargeDue{SubscriptionID: id, InvoiceID: ChargeInvoiceID(id, cur.Cycle+1), At: now, Location: s.location}
	out, err := s.subscriptionCommand(ctx, md, id, nil, c)
	if err != nil {
		return SubscriptionResult{}, err
	}
	for _, e := range out.Events {
		if due, ok := e.(subscription.ChargeDue); ok {
			cust, err := s.Customer(ctx, due.CustomerID)
			if err != nil {
				return SubscriptionResult{}, err
			}
			inv, err := s.chargeInvoice(ctx, md, cust.Customer, due)
			if err != nil {
				return SubscriptionResult{}, err
			}
			out.Invoice = &inv
			out.Position = later(out.Position, inv.Position)
		}
	}
	return out, nil
}

// EnsureChargeInvoice creates the invoice of the subscription's charge of
// cycle if it does not exist yet (after a crash between recording the
// charge and creating its invoice). It reads the cycle's
// subscription.charge_due from the stream.
func (s *Service) EnsureChargeInvoice(ctx context.Context, md eventstore.Metadata, id domain.SubscriptionID, cycle int) (InvoiceResult, error) {
	md, _ = s.begin(md)
	stream := subscription.Stream(id)
	for from := uint64(1); ; {
		events, err := s.store.ReadStream(ctx, stream, from, 500)
		if err != nil {
			return InvoiceResult{}, fmt.Errorf("reading %s: %w", stream, err)
		}
		for _, re := range events {
			if re.Type != (subscription.ChargeDue{}).EventType() {
				continue
			}
			e, err := subscription.Codec.Decode(re.Type, re.Data)
			if err != nil {
				return InvoiceResult{}, err
			}
			if due := e.(subscription.ChargeDue); due.Cycle == cycle {
				cust, err := s.Customer(ctx, due.CustomerID)
				if err != nil {
					return InvoiceResult{}, err
				}
				return s.chargeInvoice(ctx, md, cust.Customer, due)
			}
		}
		if len(events) < 500 {
			return InvoiceResult{}, domain.NotFound("charge_not_found", fmt.Sprintf("the subscription has no charge for cycle %d", cycle))
		}
		from = events[len(events)-1].Version + 1
	}
}

// chargeInvoice creates (or finds) the invoice of one plan charge: one line,
// the plan, at the plan price, taxed at the rate of the customer's shipping
// country, numbered in the year of its creation.
func (s *Service) chargeInvoice(ctx context.Context, md eventstore.Metadata, cust customer.State, due subscription.ChargeDue) (InvoiceResult, error) {
	c := invoice.Create{
		InvoiceID:       due.InvoiceID,
		Number:          placeholderInvoiceNumber,
		CustomerID:      due.CustomerID,
		CustomerName:    cust.Name(),
		SubscriptionID:  due.SubscriptionID,
		Cycle:           due.Cycle,
		Lines:           []domain.Line{{Name: due.PlanName, Quantity: 1, UnitPrice: due.Amount}},
		BillingAddress:  cust.Address,
		ShippingAddress: cust.ShippingAddress,
		VATRates:        s.rates,
		DueOn:           domain.DateIn(due.DueAt, s.location),
		At:              md.OccurredAt,
	}
	if _, err := invoice.Decide(invoice.State{}, c); err != nil {
		return InvoiceResult{}, fmt.Errorf("validating the invoice of %s's charge %d: %w", due.SubscriptionID, due.Cycle, err)
	}
	var err error
	if c.Number, err = s.numbers.Invoice(ctx, c.InvoiceID, c.At); err != nil {
		return InvoiceResult{}, err
	}
	res, w, err := execute(ctx, s, invoice.Aggregate, invoice.Stream(c.InvoiceID), options(md, nil), invoice.Command(c))
	if err != nil {
		return InvoiceResult{}, err
	}
	return InvoiceResult{Invoice: res.State, Written: w}, nil
}

// CancelSubscription cancels at once (subscription.canceled) or at the end
// of the current cycle (subscription.cancel_requested; status canceling).
// c's SubscriptionID, At and Location are set by the service.
func (s *Service) CancelSubscription(ctx context.Context, md eventstore.Metadata, id domain.SubscriptionID, c subscription.Cancel, ifMatch *uint64) (SubscriptionResult, error) {
	md, now := s.begin(md)
	c.SubscriptionID, c.At, c.Location = id, now, s.location
	return s.subscriptionCommand(ctx, md, id, ifMatch, c)
}

// PauseSubscription pauses an active subscription (subscription.paused);
// 409 subscription_not_active otherwise, a no-op when paused.
func (s *Service) PauseSubscription(ctx context.Context, md eventstore.Metadata, id domain.SubscriptionID, ifMatch *uint64) (SubscriptionResult, error) {
	md, now := s.begin(md)
	return s.subscriptionCommand(ctx, md, id, ifMatch, subscription.Pause{SubscriptionID: id, At: now})
}

// ResumeSubscription resumes a paused subscription (subscription.resumed,
// moving what fell in the pause); a no-op when active, 409
// subscription_not_paused otherwise.
func (s *Service) ResumeSubscription(ctx context.Context, md eventstore.Metadata, id domain.SubscriptionID, ifMatch *uint64) (SubscriptionResult, error) {
	md, now := s.begin(md)
	return s.subscriptionCommand(ctx, md, id, ifMatch, subscription.Resume{SubscriptionID: id, At: now, Location: s.location})
}

// AddProduct adds an active product (subscription.product_added); without
// FirstShipmentOn it ships first today, without an Interval every plan
// interval. 409 product_already_in_subscription for a product the
// subscription has.
func (s *Service) AddProduct(ctx context.Context, md eventstore.Metadata, id domain.SubscriptionID, p subscription.NewProduct, ifMatch *uint64) (SubscriptionResult, error) {
	md, now := s.begin(md)
	today := s.today(now)
	if p.FirstShipmentOn.IsZero() {
		p.FirstShipmentOn = today
	}
	if p.Interval == (domain.Interval{}) {
		cur, err := s.Subscription(ctx, id)
		if err != nil {
			return SubscriptionResult{}, err
		}
		p.Interval = cur.Subscription.Plan.Interval
	}
	return s.subscriptionCommand(ctx, md, id, ifMatch, subscription.AddProduct{SubscriptionID: id, Product: p, Today: today})
}

// UpdateProduct changes a product's interval, its next shipment date, or
// both, in one append (subscription.product_interval_changed, then
// subscription.next_shipment_set): the interval change keeps the next
// date, and a new date anchors the schedule there. At least one is
// required (invalid_field interval). Values equal to the current ones
// change nothing.
func (s *Service) UpdateProduct(ctx context.Context, md eventstore.Metadata, id domain.SubscriptionID, product domain.ProductID, interval *domain.Interval, next *domain.Date, ifMatch *uint64) (SubscriptionResult, error) {
	md, now := s.begin(md)
	var cmds []subscription.Command
	if interval != nil {
		cmds = append(cmds, subscription.ChangeProductInterval{SubscriptionID: id, ProductID: product, Interval: *interval})
	}
	if next != nil {
		cmds = append(cmds, subscription.SetNextShipment{SubscriptionID: id, ProductID: product, On: *next, Today: s.today(now)})
	}
	if len(cmds) == 0 {
		return SubscriptionResult{}, domain.Invalid("interval", "give interval, next_shipment_on or both")
	}
	return s.subscriptionCommand(ctx, md, id, ifMatch, cmds...)
}

// ShipNow ships a product today: subscription.shipment_due (ship_now, the
// next shipment one interval from today) and, at once, its order
// (CreateShipmentOrder: order.created, plus an invoice for a product with
// its own price). Only an active subscription ships (409
// subscription_not_active / subscription_canceled). The order is made here
// rather than by a reactor so that the answer can name it; the shipping
// reactor of issue 5 calls CreateShipmentOrder for every shipment_due too,
// which finds this one made.
func (s *Service) ShipNow(ctx context.Context, md eventstore.Metadata, id domain.SubscriptionID, product domain.ProductID, ifMatch *uint64) (SubscriptionResult, error) {
	md, now := s.begin(md)
	orderID := domain.OrderID(NewID(domain.OrderPrefix))
	out, err := s.subscriptionCommand(ctx, md, id, ifMatch, subscription.ShipNow{SubscriptionID: id, ProductID: product, OrderID: orderID, Today: s.today(now)})
	if err != nil {
		return SubscriptionResult{}, err
	}
	for _, e := range out.Events {
		due, ok := e.(subscription.ShipmentDue)
		if !ok {
			continue
		}
		o, err := s.shipmentOrder(ctx, md, due, out.Subscription.Plan.Price.Currency())
		if err != nil {
			return SubscriptionResult{}, fmt.Errorf("making the order of %s's ship-now of %s: %w", id, product, err)
		}
		out.Order = &o
		out.Position = later(out.Position, o.Position)
	}
	return out, nil
}

// SkipShipment moves a product's next shipment one interval on without an
// order (subscription.shipment_skipped).
func (s *Service) SkipShipment(ctx context.Context, md eventstore.Metadata, id domain.SubscriptionID, product domain.ProductID, ifMatch *uint64) (SubscriptionResult, error) {
	md, _ = s.begin(md)
	return s.subscriptionCommand(ctx, md, id, ifMatch, subscription.SkipShipment{SubscriptionID: id, ProductID: product})
}

// RemoveProduct removes a product (subscription.product_removed).
func (s *Service) RemoveProduct(ctx context.Context, md eventstore.Metadata, id domain.SubscriptionID, product domain.ProductID, ifMatch *uint64) (SubscriptionResult, error) {
	md, _ = s.begin(md)
	return s.subscriptionCommand(ctx, md, id, ifMatch, subscription.RemoveProduct{SubscriptionID: id, ProductID: product})
}

// Subscription loads a subscription from its stream.
func (s *Service) Subscription(ctx context.Context, id domain.SubscriptionID) (SubscriptionResult, error) {
	if _, err := domain.ParseSubscriptionID(string(id)); err != nil {
		return SubscriptionResult{}, subscription.ErrSubscriptionNotFound
	}
	st, v, err := eventstore.Load(ctx, s.store, subscription.Aggregate, subscription.Stream(id))
	if err != nil {
		return SubscriptionResult{}, err
	}
	if !st.Exists() {
		return SubscriptionResult{}, subscription.ErrSubscriptionNotFound
	}
	return SubscriptionResult{Subscription: st, Written: Written{Version: v}}, nil
}

func (s *Service) subscriptionCommand(ctx context.Context, md eventstore.Metadata, id domain.SubscriptionID, ifMatch *uint64, cmds ...subscription.Command) (SubscriptionResult, error) {
	if _, err := domain.ParseSubscriptionID(string(id)); err != nil {
		return SubscriptionResult{}, subscription.ErrSubscriptionNotFound
	}
	res, w, err := execute(ctx, s, subscription.Aggregate, subscription.Stream(id), options(md, ifMatch), cmds...)
	if err != nil {
		return SubscriptionResult{}, err
	}
	return SubscriptionResult{Subscription: res.State, Written: w, Events: res.Events}, nil
}
