package projections

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/subscription"
)

// subscriptionPage is GET /v1/subscriptions/{id}: API.md's subscription
// page.
//
// Document:
//
//	{"id", "version" (the subscription stream's), "customer_id", "customer_name", "status",
//	 "plan": {name, price, interval {unit, count}}, "price_per_charge", "term_cycles"|null,
//	 "delivery_method", "stripe_dashboard_url"|null, "signed_up_at", "activated_at", "paused_at",
//	 "cancel_requested_at", "canceled_at", "ends_at", "total_paid",
//	 "cycle": {number, started_at, ends_at, next_charge_at},
//	 "billing_address"|null, "shipping_address"|null,
//	 "payment_method": null, "payment_method_id"|null,
//	 "upcoming_charge": {date, amount, lines: [{product_id, name, quantity, unit_price, total}]}|null,
//	 "products": [as on the customer page],
//	 "invoices": [{id, number, created_at, amount, status, cycle|null, pdf_url}]}
//
// Decisions where API.md is silent or cannot be met yet:
//
//   - "price per charge" is price_per_charge (the plan's price, charged once
//     per plan interval: plan.interval is the "cycle" of the title), and
//     cycle is the current billing cycle: its number, start and end and the
//     next charge (null when none will be made; see upcomingCharge).
//   - stripe_dashboard_url is the customer's record in the Stripe
//     dashboard (as the seed says), null until the customer is linked.
//   - shipping_address is where the subscription ships: the customer's
//     shipping address, or their address when they have none.
//   - payment_method ({brand, last4, exp_month, exp_year}) is always null:
//     no aggregate records those yet, only the Stripe payment method id,
//     given as payment_method_id.
//   - upcoming_charge is the plan's next charge, one line for the plan;
//     products with a price of their own are invoiced per shipment, not
//     with the plan's charge.
//   - invoices are every invoice that names the subscription (its cycles,
//     and the shipments of products with a price), newest first.
type subscriptionPage struct{}

type subPageState struct {
	Version  uint64            `json:"version"`
	Sub      subscriptionState `json:"sub"`
	Customer subPageCustomer   `json:"customer"`
	Invoices []subPageInvoice  `json:"invoices"`
}

// subPageCustomer is what the page shows of the customer.
type subPageCustomer struct {
	Name             string          `json:"name"`
	Address          domain.Address  `json:"address"`
	ShippingAddress  *domain.Address `json:"shipping_address"`
	StripeCustomerID string          `json:"stripe_customer_id"`
}

// subPageCustomerState is the customer as this projection knows it, and
// the subscriptions whose pages show them.
type subPageCustomerState struct {
	Customer      customerState `json:"customer"`
	Subscriptions []string      `json:"subscriptions"`
}

type subPageInvoice struct {
	ID        string       `json:"id"`
	Number    string       `json:"number"`
	CreatedAt time.Time    `json:"created_at"`
	Amount    domain.Money `json:"amount"`
	Status    string       `json:"status"`
	Cycle     int          `json:"cycle"`
}

var subPageTypes = types(append(append(typesOf(
	customer.Registered{}, customer.DetailsChanged{}, customer.PersonalDataErased{}, customer.StripeCustomerLinked{},
), subscriptionTypes...), invoiceTypes...)...)

func (subscriptionPage) Name() string            { return "subscription" }
func (subscriptionPage) Version() int            { return 1 }
func (subscriptionPage) Handles(typ string) bool { return subPageTypes[typ] }
func (subscriptionPage) Indexes() []string       { return nil }

func (subscriptionPage) Apply(ctx context.Context, s *Session, e Event) error {
	switch ev := e.Data.(type) {
	case customer.Event:
		id := idOf(e.StreamID, customer.StreamPrefix)
		c, err := Get[subPageCustomerState](ctx, s, kindCustomer, id)
		if err != nil {
			return err
		}
		if c == nil {
			c = &subPageCustomerState{}
		}
		c.Customer = evolveCustomer(c.Customer, ev)
		c.Customer.ReturnLabels = nil
		Put(s, kindCustomer, id, c)
		for _, sid := range c.Subscriptions {
			st, err := Get[subPageState](ctx, s, kindSubscription, sid)
			if err != nil {
				return err
			}
			if st != nil {
				st.Customer = c.page()
				Put(s, kindSubscription, sid, st)
			}
		}
	case subscription.Event:
		id := idOf(e.StreamID, subscription.StreamPrefix)
		st, err := Get[subPageState](ctx, s, kindSubscription, id)
		if err != nil {
			return err
		}
		if st == nil {
			st = &subPageState{}
		}
		st.Version = e.Version
		st.Sub = evolveSubscription(st.Sub, ev)
		if created, ok := ev.(subscription.Created); ok {
			cid := string(created.CustomerID)
			c, err := Get[subPageCustomerState](ctx, s, kindCustomer, cid)
			if err != nil {
				return err
			}
			if c == nil {
				c = &subPageCustomerState{}
			}
			if !slices.Contains(c.Subscriptions, id) {
				c.Subscriptions = append(c.Subscriptions, id)
				Put(s, kindCustomer, cid, c)
			}
			st.Customer = c.page()
		}
		Put(s, kindSubscription, id, st)
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
		if inv.SubscriptionID == "" {
			return nil
		}
		sid := string(inv.SubscriptionID)
		st, err := Get[subPageState](ctx, s, kindSubscription, sid)
		if err != nil {
			return err
		}
		if st == nil {
			st = &subPageState{}
		}
		upsert(&st.Invoices, subPageInvoice{
			ID: id, Number: string(inv.Number), CreatedAt: inv.CreatedAt, Amount: inv.Amount,
			Status: string(inv.Status), Cycle: inv.Cycle,
		}, func(x *subPageInvoice) bool { return x.ID == id })
		Put(s, kindSubscription, sid, st)
	}
	return nil
}

func (c *subPageCustomerState) page() subPageCustomer {
	cs := customer.State(c.Customer)
	if !cs.Exists() {
		return subPageCustomer{}
	}
	p := subPageCustomer{
		Name: cs.Name(), Address: cs.Address, StripeCustomerID: cs.StripeCustomerID,
	}
	if a := cs.ShipsTo(); a != (domain.Address{}) {
		p.ShippingAddress = &a
	}
	return p
}

func (subscriptionPage) Render(kind, id string, state any) (Document, bool, error) {
	switch st := state.(type) {
	case *subPageState:
		if st.Sub.ID == "" {
			return Document{}, false, nil
		}
		return st.render(), true, nil
	case *subPageCustomerState, *invoice.State:
		return Document{}, false, nil
	}
	return Document{}, false, fmt.Errorf("subscription: unexpected state %s %T", kind, state)
}

func (st *subPageState) render() Document {
	s := &st.Sub
	c := &st.Customer
	w := &jsonWriter{b: make([]byte, 0, 2048)}
	w.obj()
	w.key("id")
	w.str(string(s.ID))
	w.key("version")
	w.int(int64(st.Version))
	w.key("customer_id")
	w.str(string(s.CustomerID))
	w.key("customer_name")
	w.str(c.Name)
	w.key("status")
	w.str(string(s.Status))
	w.key("plan")
	renderPlan(w, s.Plan)
	w.key("price_per_charge")
	w.money(s.Plan.Price)
	w.key("term_cycles")
	renderTermCycles(w, s.TermCycles)
	w.key("delivery_method")
	w.str(string(s.DeliveryMethod))
	w.key("stripe_dashboard_url")
	if c.StripeCustomerID != "" {
		w.str(stripeCustomerURL + c.StripeCustomerID)
	} else {
		w.null()
	}
	w.key("signed_up_at")
	w.time(s.SignedUpAt)
	w.key("activated_at")
	w.time(s.ActivatedAt)
	w.key("paused_at")
	w.time(s.PausedAt)
	w.key("cancel_requested_at")
	w.time(s.CancelRequestedAt)
	w.key("canceled_at")
	w.time(s.CanceledAt)
	w.key("ends_at")
	w.time(s.EndsAt)
	w.key("total_paid")
	w.moneyOr(s.TotalPaid, s.Plan.Price.Currency())

	next, charging := upcomingCharge(s)
	w.key("cycle")
	w.obj()
	w.key("number")
	w.int(int64(s.Cycle))
	w.key("started_at")
	w.time(s.CycleStartedAt)
	w.key("ends_at")
	w.time(s.CycleEndsAt)
	w.key("next_charge_at")
	w.time(next)
	w.end()

	w.key("billing_address")
	if c.Address == (domain.Address{}) {
		w.null()
	} else {
		w.address(c.Address)
	}
	w.key("shipping_address")
	w.addressPtr(c.ShippingAddress)
	w.key("payment_method")
	w.null()
	w.key("payment_method_id")
	w.strOrNull(s.PaymentMethodID)

	w.key("upcoming_charge")
	if charging {
		w.obj()
		w.key("date")
		w.time(next)
		w.key("amount")
		w.money(s.Plan.Price)
		w.key("lines")
		w.arr()
		w.obj()
		w.key("product_id")
		w.null()
		w.key("name")
		w.str(s.Plan.Name)
		w.key("quantity")
		w.int(1)
		w.key("unit_price")
		w.money(s.Plan.Price)
		w.key("total")
		w.money(s.Plan.Price)
		w.end()
		w.endArr()
		w.end()
	} else {
		w.null()
	}

	w.key("products")
	renderProducts(w, s.Products)

	w.key("invoices")
	w.arr()
	for _, inv := range sorted(st.Invoices, func(a, b *subPageInvoice) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(b.ID, a.ID))
	}) {
		if inv.Number == "" {
			continue
		}
		w.obj()
		w.key("id")
		w.str(inv.ID)
		w.key("number")
		w.str(inv.Number)
		w.key("created_at")
		w.time(inv.CreatedAt)
		w.key("amount")
		w.money(inv.Amount)
		w.key("status")
		w.str(inv.Status)
		w.key("cycle")
		if inv.Cycle > 0 {
			w.int(int64(inv.Cycle))
		} else {
			w.null()
		}
		w.key("pdf_url")
		w.str(invoicePDFURL(domain.InvoiceID(inv.ID)))
		w.end()
	}
	w.endArr()
	w.end()
	return Document{JSON: w.bytes(), Version: st.Version, Parent: string(s.CustomerID), SortAt: s.SignedUpAt}
}
