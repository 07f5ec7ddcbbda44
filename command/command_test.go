package command_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/command"
	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/order"
	"github.com/subsd/subsd/domain/settings"
	"github.com/subsd/subsd/domain/subscription"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/postgres"
	"github.com/subsd/subsd/eventstore/postgres/pgtest"
)

type bundle struct {
	svc   *command.Service
	store eventstore.Store
	now   time.Time
	md    eventstore.Metadata
}

var amsterdam = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		panic(err)
	}
	return loc
}()

func setup(t *testing.T) *bundle {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	require.NoError(t, postgres.Migrate(ctx, pool))
	require.NoError(t, command.Migrate(ctx, pool))
	store := postgres.New(pool)
	b := &bundle{store: store, now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
	b.svc = command.New(command.Deps{Store: store, Pool: pool, Clock: func() time.Time { return b.now }, Location: amsterdam})
	b.md = eventstore.Metadata{Actor: "admin", CorrelationID: "req-1"}
	return b
}

func ptr[T any](v T) *T { return &v }

var home = domain.Address{Street: "Keizersgracht 1", Zipcode: "1015 CJ", City: "Amsterdam", Country: "NL"}

func (b *bundle) customer(t *testing.T) customer.State {
	t.Helper()
	res, err := b.svc.CreateCustomer(context.Background(), b.md, customer.Register{
		FirstName: "Ann", LastName: "de Vries", Email: "ann@example.com", Address: home,
	})
	require.NoError(t, err)
	return res.Customer
}

func plan() subscription.Plan {
	return subscription.Plan{Name: "Coffee", Price: domain.Cents(2500), Interval: domain.Interval{Unit: domain.Month, Count: 1}}
}

func (b *bundle) subscription(t *testing.T, cus domain.CustomerID) command.SubscriptionResult {
	t.Helper()
	res, err := b.svc.CreateSubscription(context.Background(), b.md, subscription.Create{
		CustomerID: cus, Plan: plan(), DeliveryMethod: subscription.Delivery,
		Products: []subscription.NewProduct{{ProductID: "beans", Name: "Beans", Quantity: 1, Interval: domain.Interval{Unit: domain.Week, Count: 2}}},
	})
	require.NoError(t, err)
	return res
}

// activate pays the first charge as the payment reactor of issue 5 will.
func (b *bundle) activate(t *testing.T, res command.SubscriptionResult) {
	t.Helper()
	_, err := eventstore.Execute(context.Background(), b.store, subscription.Aggregate, subscription.Stream(res.Subscription.ID), subscription.Command(subscription.RecordPayment{
		SubscriptionID: res.Subscription.ID, InvoiceID: res.Invoice.Invoice.ID, PaymentID: "pay_1",
		Amount: domain.Cents(2500), At: b.now, Location: amsterdam,
	}), eventstore.ExecuteOptions{})
	require.NoError(t, err)
}

func TestCustomer(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.customer(t)
	require.True(t, strings.HasPrefix(string(c.ID), "cus_"))
	require.Len(t, c.ID, 24)

	events, err := b.store.ReadStream(ctx, customer.Stream(c.ID), 1, 10)
	require.NoError(t, err)
	require.Len(t, events, 1)
	require.Equal(t, "customer.registered", events[0].Type)
	require.Equal(t, "admin", events[0].Metadata.Actor)
	require.Equal(t, "req-1", events[0].Metadata.CorrelationID)
	require.Equal(t, b.now, events[0].Metadata.OccurredAt.UTC())

	res, err := b.svc.UpdateCustomer(ctx, b.md, c.ID, customer.ChangeDetails{LastName: ptr("Jansen")}, ptr(uint64(1)))
	require.NoError(t, err)
	require.Equal(t, uint64(2), res.Version)
	require.Equal(t, "Jansen", res.Customer.LastName)
	require.Equal(t, events[0].Position.Less(res.Position), true)

	_, err = b.svc.UpdateCustomer(ctx, b.md, c.ID, customer.ChangeDetails{LastName: ptr("Bakker")}, ptr(uint64(1)))
	require.ErrorIs(t, err, eventstore.ErrVersionMismatch)

	// A change to nothing appends nothing and reports the stream's position.
	same, err := b.svc.UpdateCustomer(ctx, b.md, c.ID, customer.ChangeDetails{LastName: ptr("Jansen")}, nil)
	require.NoError(t, err)
	require.Equal(t, res.Written, same.Written)

	_, err = b.svc.UpdateCustomer(ctx, b.md, c.ID, customer.ChangeDetails{Email: ptr(domain.Email("nope"))}, nil)
	var de *domain.Error
	require.ErrorAs(t, err, &de)
	require.Equal(t, "email", de.Field)

	_, err = b.svc.UpdateCustomer(ctx, b.md, "cus_unknown", customer.ChangeDetails{LastName: ptr("X")}, nil)
	require.ErrorIs(t, err, customer.ErrCustomerNotFound)
	_, err = b.svc.UpdateCustomer(ctx, b.md, "../etc", customer.ChangeDetails{LastName: ptr("X")}, nil)
	require.ErrorIs(t, err, customer.ErrCustomerNotFound)

	rl, err := b.svc.RequestReturnLabel(ctx, b.md, c.ID, nil)
	require.NoError(t, err)
	require.Len(t, rl.Customer.ReturnLabels, 1)
}

func TestCreateSubscription(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.customer(t)
	res := b.subscription(t, c.ID)

	require.Equal(t, subscription.StatusPending, res.Subscription.Status)
	require.Equal(t, uint64(2), res.Version)
	require.Len(t, res.Events, 2)
	require.Equal(t, "subscription.created", res.Events[0].EventType())
	require.Equal(t, "subscription.charge_due", res.Events[1].EventType())
	// No first shipment given: today in Amsterdam.
	require.Equal(t, domain.Date{Year: 2026, Month: 11, Day: 21}, res.Subscription.Products[0].NextShipmentOn)

	require.NotNil(t, res.Invoice)
	inv := res.Invoice.Invoice
	require.Equal(t, command.ChargeInvoiceID(res.Subscription.ID, 1), inv.ID)
	require.Equal(t, domain.InvoiceNumber("INV-2026-000001"), inv.Number)
	require.Equal(t, invoice.StatusOpen, inv.Status)
	require.Equal(t, domain.Cents(2500), inv.Amount)
	require.Equal(t, domain.VATRate(2100), inv.VAT.RateBP)
	require.Equal(t, "Ann de Vries", inv.CustomerName)
	require.False(t, res.Position.Less(res.Invoice.Position), "the result's position covers the invoice")

	// A second subscription's invoice takes the next number.
	res2 := b.subscription(t, c.ID)
	require.Equal(t, domain.InvoiceNumber("INV-2026-000002"), res2.Invoice.Invoice.Number)

	// Repairing a charge that has its invoice changes nothing.
	again, err := b.svc.EnsureChargeInvoice(ctx, b.md, res.Subscription.ID, 1)
	require.NoError(t, err)
	require.Equal(t, inv.Number, again.Invoice.Number)
	require.Equal(t, res.Invoice.Version, again.Version)

	// The next cycle is not due yet.
	_, err = b.svc.ChargeDue(ctx, b.md, res.Subscription.ID)
	require.ErrorIs(t, err, subscription.ErrSubscriptionNotActive)

	for _, tc := range []struct {
		name  string
		c     subscription.Create
		err   error
		field string
	}{
		{"unknown customer", subscription.Create{CustomerID: "cus_nobody", Plan: plan(), DeliveryMethod: subscription.Delivery}, customer.ErrCustomerNotFound, "customer_id"},
		{"malformed customer", subscription.Create{CustomerID: "sub_x", Plan: plan(), DeliveryMethod: subscription.Delivery}, domain.ErrInvalid, "customer_id"},
		{"bad delivery", subscription.Create{CustomerID: c.ID, Plan: plan(), DeliveryMethod: "drone"}, domain.ErrInvalid, "delivery_method"},
		{"past first shipment", subscription.Create{CustomerID: c.ID, Plan: plan(), DeliveryMethod: subscription.Delivery, Products: []subscription.NewProduct{
			{ProductID: "beans", Name: "Beans", Quantity: 1, Interval: domain.Interval{Unit: domain.Week, Count: 1}, FirstShipmentOn: domain.Date{Year: 2020, Month: 1, Day: 1}},
		}}, domain.ErrInvalid, "products[0].first_shipment_on"},
	} {
		_, err := b.svc.CreateSubscription(ctx, b.md, tc.c)
		require.ErrorIs(t, err, tc.err, tc.name)
		var de *domain.Error
		require.ErrorAs(t, err, &de, tc.name)
		require.Equal(t, tc.field, de.Field, tc.name)
	}
	// Failed creations burnt no invoice number.
	last, err := b.svc.Numbers().Last(ctx, "INV-2026")
	require.NoError(t, err)
	require.Equal(t, int64(2), last)
}

func TestProducts(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.customer(t)
	sub := b.subscription(t, c.ID)
	id := sub.Subscription.ID

	_, err := b.svc.ShipNow(ctx, b.md, id, "beans", nil)
	require.ErrorIs(t, err, subscription.ErrSubscriptionNotActive, "a pending subscription ships nothing")

	res, err := b.svc.AddProduct(ctx, b.md, id, subscription.NewProduct{ProductID: "mug", Name: "Mug", Quantity: 2, Interval: domain.Interval{Unit: domain.Month, Count: 1}, Price: ptr(domain.Cents(1210))}, nil)
	require.NoError(t, err)
	require.Len(t, res.Subscription.Products, 2)
	_, err = b.svc.AddProduct(ctx, b.md, id, subscription.NewProduct{ProductID: "mug", Name: "Mug", Quantity: 2, Interval: domain.Interval{Unit: domain.Month, Count: 1}}, nil)
	require.ErrorIs(t, err, subscription.ErrProductExists)

	next := domain.Date{Year: 2026, Month: 12, Day: 31}
	res, err = b.svc.UpdateProduct(ctx, b.md, id, "beans", &domain.Interval{Unit: domain.Month, Count: 1}, &next, ptr(res.Version))
	require.NoError(t, err)
	require.Len(t, res.Events, 2, "interval and date in one append")
	p, _ := res.Subscription.Product("beans")
	require.Equal(t, next, p.NextShipmentOn)

	_, err = b.svc.UpdateProduct(ctx, b.md, id, "beans", nil, nil, nil)
	require.ErrorIs(t, err, domain.ErrInvalid)
	_, err = b.svc.UpdateProduct(ctx, b.md, id, "nope", &domain.Interval{Unit: domain.Month, Count: 2}, nil, nil)
	require.ErrorIs(t, err, subscription.ErrProductNotFound)

	res, err = b.svc.SkipShipment(ctx, b.md, id, "beans", nil)
	require.NoError(t, err)
	p, _ = res.Subscription.Product("beans")
	require.Equal(t, domain.Date{Year: 2027, Month: 1, Day: 31}, p.NextShipmentOn)

	b.activate(t, sub)
	res, err = b.svc.ShipNow(ctx, b.md, id, "beans", nil)
	require.NoError(t, err)
	require.NotNil(t, res.Order)
	o := res.Order.Order
	require.Equal(t, domain.OrderNumber("ORD-000001"), o.Number)
	require.Equal(t, order.StatusToBeSent, o.Status)
	require.Equal(t, id, o.SubscriptionID)
	require.True(t, o.Items[0].IncludedInPlan)
	require.Nil(t, res.Order.Invoice, "a product included in the plan is not invoiced")
	p, _ = res.Subscription.Product("beans")
	require.Equal(t, domain.Date{Year: 2026, Month: 11, Day: 21}, p.LastShippedOn)
	require.Equal(t, domain.Date{Year: 2026, Month: 12, Day: 21}, p.NextShipmentOn)

	// A priced product's shipment is invoiced like any order.
	res, err = b.svc.ShipNow(ctx, b.md, id, "mug", nil)
	require.NoError(t, err)
	require.Equal(t, domain.OrderNumber("ORD-000002"), res.Order.Order.Number)
	require.NotNil(t, res.Order.Invoice)
	require.Equal(t, domain.InvoiceNumber("INV-2026-000002"), res.Order.Invoice.Invoice.Number)
	require.Equal(t, domain.Cents(2420), res.Order.Invoice.Invoice.Amount)
	require.Equal(t, res.Order.Invoice.Invoice.ID, res.Order.Order.Invoice.ID)

	// The shipping reactor finding the order made does nothing.
	var due subscription.ShipmentDue
	for _, e := range res.Events {
		due = e.(subscription.ShipmentDue)
	}
	again, err := b.svc.CreateShipmentOrder(ctx, b.md, due)
	require.NoError(t, err)
	require.Equal(t, res.Order.Version, again.Version)

	res, err = b.svc.RemoveProduct(ctx, b.md, id, "mug", nil)
	require.NoError(t, err)
	require.Len(t, res.Subscription.Products, 1)

	res, err = b.svc.PauseSubscription(ctx, b.md, id, nil)
	require.NoError(t, err)
	require.Equal(t, subscription.StatusPaused, res.Subscription.Status)
	res, err = b.svc.ResumeSubscription(ctx, b.md, id, nil)
	require.NoError(t, err)
	require.Equal(t, subscription.StatusActive, res.Subscription.Status)
	res, err = b.svc.CancelSubscription(ctx, b.md, id, subscription.Cancel{AtPeriodEnd: true, Reason: "moving"}, nil)
	require.NoError(t, err)
	require.Equal(t, subscription.StatusCanceling, res.Subscription.Status)
	_, err = b.svc.ShipNow(ctx, b.md, id, "beans", nil)
	require.ErrorIs(t, err, subscription.ErrSubscriptionCanceled)
}

func TestOrders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	c := b.customer(t)

	items := []domain.Line{
		{ProductID: "beans", Name: "Coffee beans", Quantity: 2, UnitPrice: domain.Cents(1210)},
		{ProductID: "descaler", Name: "Descaler", Quantity: 1, UnitPrice: domain.Cents(999)},
	}
	res, err := b.svc.CreateOrder(ctx, b.md, command.NewOrder{CustomerID: c.ID, Items: items, DeliveryMethod: order.Delivery, Discount: domain.Cents(500)})
	require.NoError(t, err)
	o := res.Order
	require.Equal(t, domain.OrderNumber("ORD-000001"), o.Number)
	require.Equal(t, order.StatusToBeSent, o.Status)
	require.Equal(t, domain.Cents(2919), o.Total)
	require.Equal(t, domain.Cents(507), o.VAT.Amount)
	require.NotNil(t, res.Invoice)
	require.Equal(t, domain.InvoiceNumber("INV-2026-000001"), res.Invoice.Invoice.Number)
	require.Equal(t, command.OrderInvoiceID(o.ID), res.Invoice.Invoice.ID)
	require.Equal(t, o.Invoice.Number, res.Invoice.Invoice.Number)
	require.Equal(t, domain.Cents(2919), res.Invoice.Invoice.Amount)
	require.Equal(t, uint64(2), res.Version)

	// The repair finds the invoice made.
	again, err := b.svc.EnsureOrderInvoice(ctx, b.md, o.ID)
	require.NoError(t, err)
	require.Equal(t, res.Written, again.Written)
	require.Equal(t, res.Invoice.Invoice.Number, again.Invoice.Invoice.Number)

	_, err = b.svc.AddTracking(ctx, b.md, o.ID, "3SABC", "https://track.example/3SABC", "PostNL", nil)
	require.ErrorIs(t, err, order.ErrTrackAndTraceDisabled)

	_, err = b.svc.PutEmailSettings(ctx, b.md, settings.ChangeEmailSettings{TrackAndTraceEnabled: true, ChargeReminderDaysBefore: 3, FromName: "Vivlab", FromAddress: "hi@vivlab.example"}, ptr(uint64(0)))
	require.NoError(t, err)
	st, err := b.svc.Settings(ctx)
	require.NoError(t, err)
	require.True(t, st.Settings.Email().TrackAndTraceEnabled)
	require.Equal(t, uint64(1), st.Version)

	res, err = b.svc.AddTracking(ctx, b.md, o.ID, "3SABC", "https://track.example/3SABC", "PostNL", ptr(uint64(2)))
	require.NoError(t, err)
	require.Equal(t, order.StatusSent, res.Order.Status)
	_, err = b.svc.ConfirmPickup(ctx, b.md, o.ID, nil)
	require.ErrorIs(t, err, order.ErrDeliveryOrderNoPickup)

	// A fully discounted pickup order has no invoice.
	res, err = b.svc.CreateOrder(ctx, b.md, command.NewOrder{CustomerID: c.ID, Items: items[:1], DeliveryMethod: order.Pickup, Discount: domain.Cents(2420)})
	require.NoError(t, err)
	require.Nil(t, res.Invoice)
	require.Equal(t, domain.OrderNumber("ORD-000002"), res.Order.Number)
	res, err = b.svc.ConfirmPickup(ctx, b.md, res.Order.ID, nil)
	require.NoError(t, err)
	require.Equal(t, order.StatusPickedUp, res.Order.Status)
	require.Equal(t, b.now, res.Order.Pickup.PickedUpAt)

	for _, tc := range []struct {
		name  string
		in    command.NewOrder
		field string
	}{
		{"no items", command.NewOrder{CustomerID: c.ID, DeliveryMethod: order.Delivery}, "items"},
		{"bad quantity", command.NewOrder{CustomerID: c.ID, DeliveryMethod: order.Delivery, Items: []domain.Line{items[0], {ProductID: "x", Name: "X", UnitPrice: domain.Cents(1)}}}, "items[1].quantity"},
		{"bad delivery", command.NewOrder{CustomerID: c.ID, DeliveryMethod: "drone", Items: items}, "delivery_method"},
		{"discount too big", command.NewOrder{CustomerID: c.ID, DeliveryMethod: order.Delivery, Items: items, Discount: domain.Cents(1_000_000)}, "discount.amount"},
		{"unknown country", command.NewOrder{CustomerID: c.ID, DeliveryMethod: order.Delivery, Items: items, ShippingAddress: &domain.Address{Street: "1 Main St", Zipcode: "10001", City: "New York", Country: "US"}}, "shipping_address.country"},
		{"unknown customer", command.NewOrder{CustomerID: "cus_nobody", DeliveryMethod: order.Delivery, Items: items}, "customer_id"},
	} {
		_, err := b.svc.CreateOrder(ctx, b.md, tc.in)
		var de *domain.Error
		require.ErrorAs(t, err, &de, tc.name)
		require.Equal(t, tc.field, de.Field, tc.name)
	}
	// An order whose invoice was never made (a crash in between) gets it
	// from the repair, numbered next.
	crashed := domain.OrderID("ord_crashed")
	num, err := b.svc.Numbers().Order(ctx, crashed)
	require.NoError(t, err)
	_, err = eventstore.Execute(ctx, b.store, order.Aggregate, order.Stream(crashed), order.Command(order.Create{
		OrderID: crashed, Number: num, CustomerID: c.ID, ShipOn: domain.Date{Year: 2026, Month: 11, Day: 21},
		DeliveryMethod: order.Delivery, BillingAddress: home, Items: items, VATRates: domain.DefaultVATRates(), At: b.now,
	}), eventstore.ExecuteOptions{})
	require.NoError(t, err)
	repaired, err := b.svc.EnsureOrderInvoice(ctx, b.md, crashed)
	require.NoError(t, err)
	require.Equal(t, domain.InvoiceNumber("INV-2026-000002"), repaired.Invoice.Invoice.Number)
	require.Equal(t, domain.Cents(3419), repaired.Invoice.Invoice.Amount)
	require.Equal(t, repaired.Invoice.Invoice.ID, repaired.Order.Invoice.ID)
	_, err = b.svc.EnsureOrderInvoice(ctx, b.md, "ord_nothing")
	require.ErrorIs(t, err, order.ErrOrderNotFound)

	// Rejected orders burnt no numbers.
	last, err := b.svc.Numbers().Last(ctx, command.OrderSeries)
	require.NoError(t, err)
	require.Equal(t, int64(3), last)
}

// TestNumbersGapless reserves numbers for many ids from many goroutines,
// each id several times: every id gets one number, and the numbers are
// exactly 1..n.
func TestNumbersGapless(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	nums := b.svc.Numbers()
	const ids, workers = 200, 8
	var mu sync.Mutex
	got := map[domain.OrderID]domain.OrderNumber{}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < ids; i++ {
				id := domain.OrderID(fmt.Sprintf("ord_%d", (i*7+w)%ids))
				n, err := nums.Order(ctx, id)
				if !assertNoError(t, err) {
					return
				}
				mu.Lock()
				if prev, ok := got[id]; ok && prev != n {
					t.Errorf("%s got %s and %s", id, prev, n)
				}
				got[id] = n
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	seen := map[domain.OrderNumber]bool{}
	for _, n := range got {
		seen[n] = true
	}
	require.Len(t, seen, ids)
	for i := 1; i <= ids; i++ {
		require.True(t, seen[domain.OrderNumber(fmt.Sprintf("ORD-%06d", i))], "ORD-%06d missing", i)
	}

	// Invoices count per year of the business zone: 23:30 UTC on New
	// Year's Eve is already next year in Amsterdam.
	n, err := nums.Invoice(ctx, "inv_a", time.Date(2026, 12, 31, 23, 30, 0, 0, time.UTC))
	require.NoError(t, err)
	require.Equal(t, domain.InvoiceNumber("INV-2027-000001"), n)
	n, err = nums.Invoice(ctx, "inv_b", time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	require.Equal(t, domain.InvoiceNumber("INV-2026-000001"), n)
	n, err = nums.Invoice(ctx, "inv_a", time.Date(2027, 6, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	require.Equal(t, domain.InvoiceNumber("INV-2027-000001"), n, "the same id keeps its number")
}

func assertNoError(t *testing.T, err error) bool {
	t.Helper()
	if err != nil {
		t.Error(err)
		return false
	}
	return true
}

func TestIDs(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := command.NewID("ord_")
		_, err := domain.ParseOrderID(id)
		require.NoError(t, err)
		require.Len(t, id, 24)
		require.False(t, seen[id])
		seen[id] = true
	}
	a := command.OrderInvoiceID("ord_x")
	require.Equal(t, a, command.OrderInvoiceID("ord_x"))
	require.NotEqual(t, a, command.OrderInvoiceID("ord_y"))
	_, err := domain.ParseInvoiceID(string(a))
	require.NoError(t, err)
	require.NotEqual(t, command.ChargeInvoiceID("sub_1", 1), command.ChargeInvoiceID("sub_1", 2))
	_, err = domain.ParseOrderID(string(command.ShipmentOrderID("sub_1", "beans", domain.Date{Year: 2026, Month: 1, Day: 1})))
	require.NoError(t, err)
}
