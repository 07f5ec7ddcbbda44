package subscription_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/subscription"
)

func created() subscription.Created {
	return subscription.Created{
		SubscriptionID: sub, CustomerID: cus, Plan: plan, DeliveryMethod: subscription.Delivery,
		PaymentMethodID: "pm_card_visa", Products: []subscription.ProductLine{beansLine(), filtersLine()},
		SignedUpAt: utc(t0), ChargeAnchorAt: utc(t0), NextChargeAt: utc(t0), NextCycle: 1,
	}
}

// hShipped is hActive with the first shipment of both products made: beans
// next on 2 April, filters on 19 March.
var hShipped = after(hActive,
	shipDue("beans", day0, "ord_1", day0),
	shipDue("filters", day(2026, 3, 5), "ord_2", day(2026, 3, 5)),
)

func TestCreate(t *testing.T) {
	t.Parallel()
	usd, err := domain.NewMoney(450, "USD")
	require.NoError(t, err)
	with := func(f func(*subscription.Create)) subscription.Create {
		c := create()
		c.Products = []subscription.NewProduct{beans(), filters()}
		f(&c)
		return c
	}
	invalid := func(name, field string, f func(*subscription.Create)) spec {
		return spec{name: name, when: with(f), err: domain.ErrInvalid, field: field}
	}
	run(t, []spec{
		{
			name: "creates a pending subscription whose first charge is due at once",
			when: create(),
			then: []subscription.Event{created()},
			state: func(t *testing.T, s subscription.State) {
				require.Equal(t, subscription.StatusPending, s.Status)
				require.Equal(t, utc(t0), s.NextChargeAt)
				require.Equal(t, utc(t0), s.SignedUpAt)
				require.Equal(t, eur(0), s.TotalPaid)
				require.Zero(t, s.TermCycles)
				require.Len(t, s.Products, 2)
				require.Equal(t, day0, product(t, s, "beans").NextShipmentOn)
				require.Equal(t, ptr(eur(450)), product(t, s, "filters").Price)
			},
		},
		{
			name: "a term in cycles, trimmed names",
			when: with(func(c *subscription.Create) { c.TermCycles = ptr(12); c.Plan.Name = "  Coffee Club " }),
			then: []subscription.Event{func() subscription.Created { e := created(); e.TermCycles = ptr(12); return e }()},
			state: func(t *testing.T, s subscription.State) {
				require.Equal(t, 12, s.TermCycles)
			},
		},
		{
			name: "no products and no payment method yet",
			when: with(func(c *subscription.Create) { c.Products = nil; c.PaymentMethodID = "" }),
			then: []subscription.Event{func() subscription.Created {
				e := created()
				e.Products, e.PaymentMethodID = []subscription.ProductLine{}, ""
				return e
			}()},
		},
		{name: "an id that exists", given: hPending, when: create(), err: subscription.ErrSubscriptionExists},
		invalid("subscription id", "subscription_id", func(c *subscription.Create) { c.SubscriptionID = "cus_1" }),
		invalid("customer id", "customer_id", func(c *subscription.Create) { c.CustomerID = "" }),
		invalid("plan name", "plan.name", func(c *subscription.Create) { c.Plan.Name = " " }),
		invalid("plan price missing", "plan.price", func(c *subscription.Create) { c.Plan.Price = domain.Money{} }),
		invalid("plan price zero", "plan.price.amount", func(c *subscription.Create) { c.Plan.Price = eur(0) }),
		invalid("plan interval unit", "plan.interval.unit", func(c *subscription.Create) { c.Plan.Interval = domain.Interval{Unit: "day", Count: 1} }),
		invalid("term of zero cycles", "term_cycles", func(c *subscription.Create) { c.TermCycles = ptr(0) }),
		invalid("delivery method", "delivery_method", func(c *subscription.Create) { c.DeliveryMethod = "drone" }),
		invalid("payment method id", "payment_method_id", func(c *subscription.Create) { c.PaymentMethodID = "pm card" }),
		invalid("product id", "products[0].product_id", func(c *subscription.Create) { c.Products[0].ProductID = "bad id" }),
		invalid("product listed twice", "products[1].product_id", func(c *subscription.Create) { c.Products[1].ProductID = "beans" }),
		invalid("product name", "products[0].name", func(c *subscription.Create) { c.Products[0].Name = "" }),
		invalid("quantity below one", "products[1].quantity", func(c *subscription.Create) { c.Products[1].Quantity = 0 }),
		invalid("product interval", "products[0].interval.count", func(c *subscription.Create) { c.Products[0].Interval = domain.Interval{Unit: domain.Week, Count: 0} }),
		invalid("first shipment in the past", "products[0].first_shipment_on", func(c *subscription.Create) { c.Products[0].FirstShipmentOn = day(2026, 3, 1) }),
		invalid("first shipment missing", "products[0].first_shipment_on", func(c *subscription.Create) { c.Products[0].FirstShipmentOn = domain.Date{} }),
		invalid("first shipment on a day that does not exist", "products[0].first_shipment_on", func(c *subscription.Create) { c.Products[0].FirstShipmentOn = day(2026, 2, 30) }),
		invalid("product price zero", "products[1].price.amount", func(c *subscription.Create) { c.Products[1].Price = ptr(eur(0)) }),
		{
			name: "product price in another currency than the plan",
			when: with(func(c *subscription.Create) { c.Products[1].Price = &usd }),
			err:  domain.ErrCurrencyMismatch, field: "products[1].price.currency",
		},
	})
}

func TestCommandsNeedTheSubscription(t *testing.T) {
	t.Parallel()
	other := pauseAt(t0)
	other.SubscriptionID = "sub_2"
	run(t, []spec{
		{name: "no subscription", when: pauseAt(t0), err: subscription.ErrSubscriptionNotFound},
		{name: "another subscription", given: hActive, when: other, err: subscription.ErrSubscriptionNotFound},
	})
}

func TestCallerBugsAreInternalErrors(t *testing.T) {
	t.Parallel()
	noZone := create()
	noZone.Location = nil
	noDay := shipNow("beans", "ord_1", domain.Date{})
	for _, tc := range []struct {
		given []subscription.Event
		when  subscription.Command
	}{{nil, noZone}, {hActive, noDay}, {hActive, subscription.Pause{SubscriptionID: sub}}, {hActive, nil}} {
		_, err := subscription.Decide(subscription.Fold(tc.given...), tc.when)
		require.Error(t, err)
		var de *domain.Error
		require.False(t, errors.As(err, &de), "%v must not reach a client as a domain error", err)
	}
}

func grinder() subscription.NewProduct {
	return subscription.NewProduct{ProductID: "grinder-burrs", Name: "Grinder burrs", Quantity: 1, Interval: domain.Interval{Unit: domain.Month, Count: 3}, FirstShipmentOn: day(2026, 3, 20), Price: ptr(eur(1999))}
}

func TestAddProduct(t *testing.T) {
	t.Parallel()
	add := func(p subscription.NewProduct, today domain.Date) subscription.AddProduct {
		return subscription.AddProduct{SubscriptionID: sub, Product: p, Today: today}
	}
	grinderLine := subscription.ProductLine{
		ProductID: "grinder-burrs", Name: "Grinder burrs", Quantity: 1, Interval: domain.Interval{Unit: domain.Month, Count: 3},
		Price: ptr(eur(1999)), NextShipmentOn: day(2026, 3, 20), Schedule: subscription.Schedule{AnchorOn: day(2026, 3, 20)},
	}
	removed := after(hActive, subscription.RemoveProduct{SubscriptionID: sub, ProductID: "filters"})
	run(t, []spec{
		{
			name: "adds a product", given: hActive, when: add(grinder(), day(2026, 3, 10)),
			then: []subscription.Event{subscription.ProductAdded{SubscriptionID: sub, CustomerID: cus, Product: grinderLine}},
			state: func(t *testing.T, s subscription.State) {
				require.Len(t, s.Products, 3)
				require.Equal(t, day(2026, 3, 20), product(t, s, "grinder-burrs").NextShipmentOn)
			},
		},
		{
			name: "to a pending subscription", given: hPending, when: add(grinder(), day0),
			then: []subscription.Event{subscription.ProductAdded{SubscriptionID: sub, CustomerID: cus, Product: grinderLine}},
		},
		{
			name: "a product that was removed, again", given: removed, when: add(filters(), day(2026, 3, 3)),
			then: []subscription.Event{subscription.ProductAdded{SubscriptionID: sub, CustomerID: cus, Product: filtersLine()}},
		},
		{name: "a product it has", given: hActive, when: add(beans(), day0), err: subscription.ErrProductExists},
		{name: "canceled", given: hCanceled, when: add(grinder(), day(2026, 3, 11)), err: subscription.ErrSubscriptionCanceled},
		{name: "first shipment before today", given: hActive, when: add(grinder(), day(2026, 3, 21)), err: domain.ErrInvalid, field: "first_shipment_on"},
		{
			name: "quantity below one", given: hActive,
			when: add(func() subscription.NewProduct { p := grinder(); p.Quantity = 0; return p }(), day(2026, 3, 10)),
			err:  domain.ErrInvalid, field: "quantity",
		},
	})
}

func TestChangeProductInterval(t *testing.T) {
	t.Parallel()
	change := func(id domain.ProductID, iv domain.Interval) subscription.ChangeProductInterval {
		return subscription.ChangeProductInterval{SubscriptionID: sub, ProductID: id, Interval: iv}
	}
	run(t, []spec{
		{
			name: "the next shipment stays and anchors the new interval", given: hShipped, when: change("beans", weekly),
			then: []subscription.Event{subscription.ProductIntervalChanged{
				SubscriptionID: sub, CustomerID: cus, ProductID: "beans", Interval: weekly,
				NextShipmentOn: day(2026, 4, 2), Schedule: subscription.Schedule{AnchorOn: day(2026, 4, 2)},
			}},
			state: func(t *testing.T, s subscription.State) {
				p := product(t, s, "beans")
				require.Equal(t, weekly, p.Interval)
				require.Equal(t, day(2026, 4, 2), p.NextShipmentOn)
			},
		},
		{name: "the same interval is a no-op", given: hShipped, when: change("beans", monthly)},
		{name: "an unknown product", given: hShipped, when: change("tea", weekly), err: subscription.ErrProductNotFound},
		{name: "canceled", given: hCanceled, when: change("beans", weekly), err: subscription.ErrSubscriptionCanceled},
		{name: "an interval of zero weeks", given: hShipped, when: change("beans", domain.Interval{Unit: domain.Week}), err: domain.ErrInvalid, field: "interval.count"},
	})
}

func TestSetNextShipment(t *testing.T) {
	t.Parallel()
	set := func(id domain.ProductID, on, today domain.Date) subscription.SetNextShipment {
		return subscription.SetNextShipment{SubscriptionID: sub, ProductID: id, On: on, Today: today}
	}
	moved := func(on domain.Date) []subscription.Event {
		return []subscription.Event{subscription.NextShipmentSet{
			SubscriptionID: sub, CustomerID: cus, ProductID: "filters", NextShipmentOn: on, Schedule: subscription.Schedule{AnchorOn: on},
		}}
	}
	run(t, []spec{
		{
			name: "re-anchors the schedule on the date", given: hActive, when: set("filters", day(2026, 3, 20), day(2026, 3, 4)),
			then: moved(day(2026, 3, 20)),
			state: func(t *testing.T, s subscription.State) {
				require.Equal(t, day(2026, 3, 20), product(t, s, "filters").NextShipmentOn)
			},
		},
		{name: "today", given: hActive, when: set("filters", day(2026, 3, 4), day(2026, 3, 4)), then: moved(day(2026, 3, 4))},
		{name: "while paused", given: hPaused, when: set("filters", day(2026, 4, 1), day(2026, 3, 11)), then: moved(day(2026, 4, 1))},
		{name: "the date it has is a no-op", given: hActive, when: set("filters", day(2026, 3, 5), day(2026, 3, 3))},
		{name: "in the past", given: hActive, when: set("filters", day(2026, 3, 9), day(2026, 3, 10)), err: domain.ErrInvalid, field: "next_shipment_on"},
		{name: "no date", given: hActive, when: set("filters", domain.Date{}, day(2026, 3, 10)), err: domain.ErrInvalid, field: "next_shipment_on"},
		{name: "an unknown product", given: hActive, when: set("tea", day(2026, 3, 20), day(2026, 3, 10)), err: subscription.ErrProductNotFound},
		{name: "canceled", given: hCanceled, when: set("filters", day(2026, 3, 20), day(2026, 3, 10)), err: subscription.ErrSubscriptionCanceled},
	})
}

func filtersDue(order string, due, next domain.Date, sched subscription.Schedule, now bool) subscription.ShipmentDue {
	return subscription.ShipmentDue{
		SubscriptionID: sub, CustomerID: cus, ProductID: "filters", OrderID: domain.OrderID(order), DueOn: due, ShipNow: now,
		Name: "Paper filters", Quantity: 1, UnitPrice: ptr(eur(450)), DeliveryMethod: subscription.Delivery,
		NextShipmentOn: next, Schedule: sched,
	}
}

func beansDue(order string, due, next domain.Date, sched subscription.Schedule) subscription.ShipmentDue {
	return subscription.ShipmentDue{
		SubscriptionID: sub, CustomerID: cus, ProductID: "beans", OrderID: domain.OrderID(order), DueOn: due,
		Name: "Espresso beans 1kg", Quantity: 2, DeliveryMethod: subscription.Delivery,
		NextShipmentOn: next, Schedule: sched,
	}
}

func TestShipNow(t *testing.T) {
	t.Parallel()
	today := day(2026, 3, 10)
	shipped := []subscription.Event{filtersDue("ord_9", today, day(2026, 3, 24), subscription.Schedule{AnchorOn: today, Step: 1}, true)}
	run(t, []spec{
		{
			name: "makes the order today; the next shipment is one interval from today", given: hShipped, when: shipNow("filters", "ord_9", today),
			then: shipped,
			state: func(t *testing.T, s subscription.State) {
				p := product(t, s, "filters")
				require.Equal(t, today, p.LastShippedOn)
				require.Equal(t, day(2026, 3, 24), p.NextShipmentOn)
				require.Equal(t, domain.OrderID("ord_9"), p.LastOrderID)
			},
		},
		{name: "repeated with the same order is a no-op", given: after(hShipped, shipNow("filters", "ord_9", today)), when: shipNow("filters", "ord_9", today)},
		{name: "canceling, before the end", given: hCanceling, when: shipNow("filters", "ord_9", today), err: subscription.ErrSubscriptionCanceled},
		{name: "canceling, on the end day", given: hCanceling, when: shipNow("filters", "ord_9", day(2026, 4, 2)), err: subscription.ErrSubscriptionCanceled},
		{name: "canceled", given: hCanceled, when: shipNow("filters", "ord_9", today), err: subscription.ErrSubscriptionCanceled},
		{name: "paused", given: hPaused, when: shipNow("filters", "ord_9", today), err: subscription.ErrSubscriptionNotActive},
		{name: "pending", given: hCharged, when: shipNow("filters", "ord_9", today), err: subscription.ErrSubscriptionNotActive},
		{name: "past due", given: hPastDue, when: shipNow("filters", "ord_9", day(2026, 4, 20)), err: subscription.ErrSubscriptionNotActive},
		{name: "an unknown product", given: hActive, when: shipNow("tea", "ord_9", today), err: subscription.ErrProductNotFound},
		{name: "a bad order id", given: hActive, when: shipNow("filters", "inv_9", today), err: domain.ErrInvalid, field: "order_id"},
	})
}

func TestSkipShipment(t *testing.T) {
	t.Parallel()
	skip := func(id domain.ProductID) subscription.SkipShipment {
		return subscription.SkipShipment{SubscriptionID: sub, ProductID: id}
	}
	skipped := []subscription.Event{subscription.ShipmentSkipped{
		SubscriptionID: sub, CustomerID: cus, ProductID: "beans", SkippedOn: day0,
		NextShipmentOn: day(2026, 4, 2), Schedule: subscription.Schedule{AnchorOn: day0, Step: 1},
	}}
	run(t, []spec{
		{
			name: "moves one interval on without an order", given: hActive, when: skip("beans"), then: skipped,
			state: func(t *testing.T, s subscription.State) {
				p := product(t, s, "beans")
				require.Equal(t, day(2026, 4, 2), p.NextShipmentOn)
				require.Zero(t, p.LastShippedOn)
			},
		},
		{name: "while paused", given: hPaused, when: skip("beans"), then: skipped},
		{name: "an unknown product", given: hActive, when: skip("tea"), err: subscription.ErrProductNotFound},
		{name: "canceled", given: hCanceled, when: skip("beans"), err: subscription.ErrSubscriptionCanceled},
	})
}

func TestRemoveProduct(t *testing.T) {
	t.Parallel()
	remove := func(id domain.ProductID) subscription.RemoveProduct {
		return subscription.RemoveProduct{SubscriptionID: sub, ProductID: id}
	}
	run(t, []spec{
		{
			name: "removes it", given: hActive, when: remove("filters"),
			then: []subscription.Event{subscription.ProductRemoved{SubscriptionID: sub, CustomerID: cus, ProductID: "filters", Name: "Paper filters"}},
			state: func(t *testing.T, s subscription.State) {
				require.Len(t, s.Products, 1)
				_, ok := s.Product("filters")
				require.False(t, ok)
			},
		},
		{name: "an unknown product", given: hActive, when: remove("tea"), err: subscription.ErrProductNotFound},
		{name: "canceled", given: hCanceled, when: remove("filters"), err: subscription.ErrSubscriptionCanceled},
	})
}

func TestRecordShipmentDue(t *testing.T) {
	t.Parallel()
	beansOnTime := []subscription.Event{beansDue("ord_1", day0, day(2026, 4, 2), subscription.Schedule{AnchorOn: day0, Step: 1})}
	endingWithBeansDue := after(hActive, shipDue("beans", day0, "ord_1", day0), cancelAt(local(2026, 3, 10, 12, 0), true, ""))
	pickup := create()
	pickup.DeliveryMethod = subscription.Pickup
	hPickup := history(pickup, charge("inv_1", t0), pay("inv_1", "pay_1", 2995, t0))
	run(t, []spec{
		{
			name: "on its day: an order, and the next shipment one interval on", given: hActive, when: shipDue("beans", day0, "ord_1", day0),
			then: beansOnTime,
			state: func(t *testing.T, s subscription.State) {
				p := product(t, s, "beans")
				require.Equal(t, day0, p.LastShippedOn)
				require.Equal(t, day(2026, 4, 2), p.NextShipmentOn)
			},
		},
		{
			name: "a priced product carries its price", given: hActive, when: shipDue("filters", day(2026, 3, 5), "ord_2", day(2026, 3, 5)),
			then: []subscription.Event{filtersDue("ord_2", day(2026, 3, 5), day(2026, 3, 19), subscription.Schedule{AnchorOn: day(2026, 3, 5), Step: 1}, false)},
		},
		{
			name: "a late scheduler makes one order; the next date is after today", given: hActive, when: shipDue("filters", day(2026, 3, 5), "ord_2", day(2026, 3, 25)),
			then: []subscription.Event{filtersDue("ord_2", day(2026, 3, 5), day(2026, 4, 2), subscription.Schedule{AnchorOn: day(2026, 3, 5), Step: 2}, false)},
		},
		{
			name: "pickup", given: hPickup, when: shipDue("beans", day0, "ord_1", day0),
			then: []subscription.Event{func() subscription.ShipmentDue {
				e := beansDue("ord_1", day0, day(2026, 4, 2), subscription.Schedule{AnchorOn: day0, Step: 1})
				e.DeliveryMethod = subscription.Pickup
				return e
			}()},
		},
		{name: "repeated with the same order is a no-op", given: after(hActive, shipDue("beans", day0, "ord_1", day0)), when: shipDue("beans", day0, "ord_1", day0)},
		{name: "canceling, before the end", given: hCanceling, when: shipDue("beans", day0, "ord_1", day(2026, 3, 11)), err: subscription.ErrSubscriptionCanceled},
		{name: "canceling, due on the end day", given: endingWithBeansDue, when: shipDue("beans", day(2026, 4, 2), "ord_2", day(2026, 4, 2)), err: subscription.ErrSubscriptionCanceled},
		{name: "not due yet", given: hActive, when: shipDue("filters", day(2026, 3, 5), "ord_2", day(2026, 3, 4)), err: subscription.ErrShipmentNotDue},
		{name: "not the product's next date", given: hActive, when: shipDue("beans", day(2026, 3, 3), "ord_1", day(2026, 3, 10)), err: subscription.ErrShipmentNotDue},
		{name: "pending", given: hCharged, when: shipDue("beans", day0, "ord_1", day0), err: subscription.ErrSubscriptionNotActive},
		{name: "paused", given: hPaused, when: shipDue("beans", day0, "ord_1", day(2026, 3, 11)), err: subscription.ErrSubscriptionNotActive},
		{name: "past due", given: hPastDue, when: shipDue("beans", day0, "ord_1", day(2026, 4, 19)), err: subscription.ErrSubscriptionNotActive},
		{name: "canceled", given: hCanceled, when: shipDue("beans", day0, "ord_1", day(2026, 3, 11)), err: subscription.ErrSubscriptionCanceled},
		{name: "an unknown product", given: hActive, when: shipDue("tea", day0, "ord_1", day0), err: subscription.ErrProductNotFound},
	})
}

func TestRecordChargeDue(t *testing.T) {
	t.Parallel()
	first := subscription.ChargeDue{
		SubscriptionID: sub, CustomerID: cus, InvoiceID: "inv_1", Cycle: 1, Amount: eur(2995), PlanName: "Coffee Club",
		PaymentMethodID: "pm_card_visa", DueAt: utc(t0), CycleStartedAt: utc(t0), CycleEndsAt: utc(slot1), ChargeSlot: 1, NextChargeAt: utc(slot1),
	}
	second := subscription.ChargeDue{
		SubscriptionID: sub, CustomerID: cus, InvoiceID: "inv_2", Cycle: 2, Amount: eur(2995), PlanName: "Coffee Club",
		PaymentMethodID: "pm_card_visa", DueAt: utc(slot1), CycleStartedAt: utc(slot1), CycleEndsAt: utc(slot2), ChargeSlot: 2, NextChargeAt: utc(slot2),
	}
	run(t, []spec{
		{
			name: "the first charge, while pending", given: hPending, when: charge("inv_1", t0),
			then: []subscription.Event{first},
			state: func(t *testing.T, s subscription.State) {
				require.Equal(t, subscription.StatusPending, s.Status)
				require.Equal(t, 1, s.Cycle)
				require.Equal(t, utc(t0), s.CycleStartedAt)
				require.Equal(t, utc(slot1), s.CycleEndsAt)
				require.Equal(t, utc(slot1), s.NextChargeAt)
			},
		},
		{name: "the next cycle", given: hActive, when: charge("inv_2", slot1), then: []subscription.Event{second}},
		{name: "late: the cycle still starts at its slot", given: hActive, when: charge("inv_2", slot1.Add(72*time.Hour)), then: []subscription.Event{second}},
		{name: "before next_charge_at", given: hActive, when: charge("inv_2", slot1.Add(-time.Minute)), err: subscription.ErrChargeNotDue},
		{name: "an invoice already charged is a no-op", given: hCycle2, when: charge("inv_2", slot1)},
		{name: "pending after its first charge", given: hCharged, when: charge("inv_2", slot1), err: subscription.ErrSubscriptionNotActive},
		{name: "paused", given: hPaused, when: charge("inv_2", slot1), err: subscription.ErrSubscriptionNotActive},
		{name: "past due", given: after(hPastDue, pastDue("inv_2", subscription.FinalActionNone, slot2)), when: charge("inv_3", slot2), err: subscription.ErrSubscriptionNotActive},
		{name: "canceling", given: hCanceling, when: charge("inv_2", slot1), err: subscription.ErrSubscriptionNotActive},
		{name: "canceled", given: hCanceled, when: charge("inv_2", slot1), err: subscription.ErrSubscriptionCanceled},
		{name: "a bad invoice id", given: hActive, when: charge("ord_2", slot1), err: domain.ErrInvalid, field: "invoice_id"},
	})
}

func TestRecordPayment(t *testing.T) {
	t.Parallel()
	usd, err := domain.NewMoney(2995, "USD")
	require.NoError(t, err)
	paidAt := t0.Add(time.Minute)
	received := func(inv, payment string, cents, total int64, at time.Time) subscription.PaymentReceived {
		return subscription.PaymentReceived{
			SubscriptionID: sub, CustomerID: cus, InvoiceID: domain.InvoiceID(inv), PaymentID: domain.PaymentID(payment),
			Amount: eur(cents), PaidAt: utc(at), TotalPaid: eur(total),
		}
	}
	open := func(slot int, next time.Time) subscription.ChargePosition {
		return subscription.ChargePosition{ChargeSlot: slot, CycleEndsAt: utc(next), NextChargeAt: utc(next)}
	}
	recoveredAt := local(2026, 4, 20, 10, 0)
	pendingPastDue := after(hCharged, pastDue("inv_1", subscription.FinalActionNone, t0.Add(10*24*time.Hour)))
	run(t, []spec{
		{
			name: "the first charge paid activates", given: hCharged, when: pay("inv_1", "pay_1", 2995, paidAt),
			then: []subscription.Event{
				received("inv_1", "pay_1", 2995, 2995, paidAt),
				subscription.Activated{SubscriptionID: sub, CustomerID: cus, InvoiceID: "inv_1", ActivatedAt: utc(paidAt), ChargePosition: open(1, slot1)},
			},
			state: func(t *testing.T, s subscription.State) {
				require.Equal(t, subscription.StatusActive, s.Status)
				require.Equal(t, utc(paidAt), s.ActivatedAt)
				require.Equal(t, eur(2995), s.TotalPaid)
				require.Equal(t, utc(slot1), s.NextChargeAt)
			},
		},
		{
			name: "paid later than the next slot: the next charge moves on, as after a pause", given: hCharged,
			when: pay("inv_1", "pay_1", 2995, slot1.Add(48*time.Hour)),
			then: []subscription.Event{
				received("inv_1", "pay_1", 2995, 2995, slot1.Add(48*time.Hour)),
				subscription.Activated{SubscriptionID: sub, CustomerID: cus, InvoiceID: "inv_1", ActivatedAt: utc(slot1.Add(48 * time.Hour)), ChargePosition: open(2, slot2)},
			},
		},
		{
			name: "a later charge adds to the total", given: hCycle2, when: pay("inv_2", "pay_2", 2995, slot1),
			then: []subscription.Event{received("inv_2", "pay_2", 2995, 5990, slot1)},
		},
		{
			name: "an invoice that is not a charge does not activate", given: hCharged, when: pay("inv_9", "pay_9", 450, paidAt),
			then:  []subscription.Event{received("inv_9", "pay_9", 450, 450, paidAt)},
			state: func(t *testing.T, s subscription.State) { require.Equal(t, subscription.StatusPending, s.Status) },
		},
		{
			name: "money is recorded on a canceled subscription", given: after(hCycle2, cancelAt(slot1.Add(time.Hour), false, "")),
			when: pay("inv_2", "pay_2", 2995, slot1.Add(2*time.Hour)),
			then: []subscription.Event{received("inv_2", "pay_2", 2995, 5990, slot1.Add(2*time.Hour))},
		},
		{
			name: "the past-due invoice paid: active again, the non-payment cancellation withdrawn", given: hPastDue,
			when: pay("inv_2", "pay_2", 2995, recoveredAt),
			then: []subscription.Event{
				received("inv_2", "pay_2", 2995, 5990, recoveredAt),
				subscription.Recovered{SubscriptionID: sub, CustomerID: cus, InvoiceID: "inv_2", RecoveredAt: utc(recoveredAt), Status: subscription.StatusActive, CancellationWithdrawn: true, ChargePosition: open(2, slot2)},
			},
			state: func(t *testing.T, s subscription.State) {
				require.Equal(t, subscription.StatusActive, s.Status)
				require.Zero(t, s.CancelRequestedAt)
				require.Zero(t, s.EndsAt)
				require.Zero(t, s.PastDueInvoiceID)
				require.Equal(t, utc(slot2), s.NextChargeAt)
			},
		},
		{
			name: "the past-due invoice paid after the customer asked to cancel: canceling", given: after(hPastDue, cancelAt(local(2026, 4, 19, 9, 0), true, "bye")),
			when: pay("inv_2", "pay_2", 2995, recoveredAt),
			then: []subscription.Event{
				received("inv_2", "pay_2", 2995, 5990, recoveredAt),
				subscription.Recovered{SubscriptionID: sub, CustomerID: cus, InvoiceID: "inv_2", RecoveredAt: utc(recoveredAt), Status: subscription.StatusCanceling,
					ChargePosition: subscription.ChargePosition{ChargeSlot: 2, CycleEndsAt: utc(slot2), EndsAt: utc(slot2), EndsOn: day(2026, 5, 2)}},
			},
			state: func(t *testing.T, s subscription.State) {
				require.Equal(t, subscription.StatusCanceling, s.Status)
				require.Equal(t, "bye", s.CancelReason)
				require.Zero(t, s.NextChargeAt)
			},
		},
		{
			name: "past due on its first charge, then paid: activated and recovered", given: pendingPastDue,
			when: pay("inv_1", "pay_1", 2995, t0.Add(12*24*time.Hour)),
			then: []subscription.Event{
				received("inv_1", "pay_1", 2995, 2995, t0.Add(12*24*time.Hour)),
				subscription.Activated{SubscriptionID: sub, CustomerID: cus, InvoiceID: "inv_1", ActivatedAt: utc(t0.Add(12 * 24 * time.Hour)), ChargePosition: open(1, slot1)},
				subscription.Recovered{SubscriptionID: sub, CustomerID: cus, InvoiceID: "inv_1", RecoveredAt: utc(t0.Add(12 * 24 * time.Hour)), Status: subscription.StatusActive, ChargePosition: open(1, slot1)},
			},
			state: func(t *testing.T, s subscription.State) {
				require.Equal(t, subscription.StatusActive, s.Status)
				require.Equal(t, utc(t0.Add(12*24*time.Hour)), s.ActivatedAt)
			},
		},
		{
			name: "another invoice paid while past due does not recover", given: hPastDue, when: pay("inv_9", "pay_9", 450, recoveredAt),
			then:  []subscription.Event{received("inv_9", "pay_9", 450, 3445, recoveredAt)},
			state: func(t *testing.T, s subscription.State) { require.Equal(t, subscription.StatusPastDue, s.Status) },
		},
		{name: "a payment already recorded is a no-op", given: hActive, when: pay("inv_1", "pay_1", 2995, paidAt)},
		{
			name: "another currency", given: hActive,
			when: subscription.RecordPayment{SubscriptionID: sub, InvoiceID: "inv_1", PaymentID: "pay_2", Amount: usd, At: paidAt, Location: ams},
			err:  domain.ErrCurrencyMismatch, field: "amount.currency",
		},
		{name: "nothing paid", given: hActive, when: pay("inv_1", "pay_2", 0, paidAt), err: domain.ErrInvalid, field: "amount.amount"},
		{name: "a bad payment id", given: hActive, when: pay("inv_1", "pi_2", 10, paidAt), err: domain.ErrInvalid, field: "payment_id"},
	})
}

func TestRecordRefund(t *testing.T) {
	t.Parallel()
	usd, err := domain.NewMoney(10, "USD")
	require.NoError(t, err)
	at := local(2026, 3, 12, 10, 0)
	refunded := func(cents, total int64) []subscription.Event {
		return []subscription.Event{subscription.RefundRecorded{
			SubscriptionID: sub, CustomerID: cus, InvoiceID: "inv_1", Amount: eur(cents), RefundedAt: utc(at), TotalPaid: eur(total),
		}}
	}
	partly := after(hActive, refund("inv_1", 2000, at))
	run(t, []spec{
		{
			name: "lowers the total paid", given: hActive, when: refund("inv_1", 1000, at), then: refunded(1000, 1995),
			state: func(t *testing.T, s subscription.State) { require.Equal(t, eur(1995), s.TotalPaid) },
		},
		{
			name: "the rest of a partly refunded invoice, down to zero", given: partly, when: refund("inv_1", 995, at), then: refunded(995, 0),
			state: func(t *testing.T, s subscription.State) { require.Equal(t, eur(0), s.TotalPaid) },
		},
		{name: "more than was paid", given: hActive, when: refund("inv_1", 2996, at), err: subscription.ErrRefundExceedsPaid},
		{name: "more than is left after a refund", given: partly, when: refund("inv_1", 996, at), err: subscription.ErrRefundExceedsPaid},
		{name: "an invoice with nothing paid", given: hCycle2, when: refund("inv_2", 1, at), err: subscription.ErrRefundExceedsPaid},
		{name: "on a canceled subscription", given: hCanceled, when: refund("inv_1", 1000, at), then: refunded(1000, 1995)},
		{
			name: "another currency", given: hActive,
			when: subscription.RecordRefund{SubscriptionID: sub, InvoiceID: "inv_1", Amount: usd, At: at},
			err:  domain.ErrCurrencyMismatch, field: "amount.currency",
		},
		{name: "a negative amount", given: hActive, when: refund("inv_1", -5, at), err: domain.ErrInvalid, field: "amount.amount"},
	})
}

func TestMarkPastDue(t *testing.T) {
	t.Parallel()
	at := local(2026, 4, 18, 10, 0)
	marked := func(inv string, action subscription.FinalAction, at time.Time) subscription.MarkedPastDue {
		return subscription.MarkedPastDue{SubscriptionID: sub, CustomerID: cus, InvoiceID: domain.InvoiceID(inv), MarkedAt: utc(at), FinalAction: action}
	}
	canceledNow := func(at time.Time) subscription.Canceled {
		return subscription.Canceled{SubscriptionID: sub, CustomerID: cus, CanceledAt: utc(at), RequestedAt: utc(at), Reason: subscription.ReasonPaymentFailed, Cause: subscription.CauseNonPayment}
	}
	customerCanceling := after(hCycle2, cancelAt(local(2026, 4, 10, 9, 0), true, "bye"))
	run(t, []spec{
		{
			name: "default: cancel at the end of the cycle, staying past due", given: hCycle2, when: pastDue("inv_2", "", at),
			then: []subscription.Event{
				marked("inv_2", subscription.FinalActionCancelAtPeriodEnd, at),
				subscription.CancelRequested{SubscriptionID: sub, CustomerID: cus, RequestedAt: utc(at), EndsAt: utc(slot2), EndsOn: day(2026, 5, 2), Reason: subscription.ReasonPaymentFailed, Cause: subscription.CauseNonPayment},
			},
			state: func(t *testing.T, s subscription.State) {
				require.Equal(t, subscription.StatusPastDue, s.Status)
				require.Equal(t, utc(at), s.CancelRequestedAt)
				require.Equal(t, utc(slot2), s.EndsAt)
				require.Zero(t, s.NextChargeAt)
				require.Equal(t, subscription.FinalActionCancelAtPeriodEnd, s.PastDueFinalAction)
			},
		},
		{
			name: "cancel now", given: hCycle2, when: pastDue("inv_2", subscription.FinalActionCancelNow, at),
			then:  []subscription.Event{marked("inv_2", subscription.FinalActionCancelNow, at), canceledNow(at)},
			state: func(t *testing.T, s subscription.State) { require.Equal(t, subscription.StatusCanceled, s.Status) },
		},
		{
			name: "none: stays past due", given: hCycle2, when: pastDue("inv_2", subscription.FinalActionNone, at),
			then: []subscription.Event{marked("inv_2", subscription.FinalActionNone, at)},
			state: func(t *testing.T, s subscription.State) {
				require.Equal(t, subscription.StatusPastDue, s.Status)
				require.Zero(t, s.EndsAt)
			},
		},
		{
			name: "the cycle has already ended: canceled now", given: hCharged, when: pastDue("inv_1", "", slot1.Add(24*time.Hour)),
			then: []subscription.Event{marked("inv_1", subscription.FinalActionCancelAtPeriodEnd, slot1.Add(24*time.Hour)), canceledNow(slot1.Add(24 * time.Hour))},
		},
		{
			name: "canceling already: its end stands", given: customerCanceling, when: pastDue("inv_2", "", at),
			then: []subscription.Event{marked("inv_2", subscription.FinalActionCancelAtPeriodEnd, at)},
			state: func(t *testing.T, s subscription.State) {
				require.Equal(t, subscription.StatusPastDue, s.Status)
				require.Equal(t, subscription.CauseRequested, s.CancelCause)
				require.Equal(t, utc(slot2), s.EndsAt)
			},
		},
		{name: "already past due is a no-op", given: hPastDue, when: pastDue("inv_2", "", at.Add(time.Hour))},
		{name: "an unknown final action", given: hCycle2, when: pastDue("inv_2", "shrug", at), err: domain.ErrInvalid, field: "final_action"},
		{name: "an invoice that is not a charge", given: hCycle2, when: pastDue("inv_9", "", at), err: subscription.ErrInvoiceNotFound},
		{name: "canceled", given: hCanceled, when: pastDue("inv_1", "", at), err: subscription.ErrSubscriptionCanceled},
	})
}

func TestPause(t *testing.T) {
	t.Parallel()
	at := local(2026, 3, 10, 12, 0)
	run(t, []spec{
		{
			name: "pauses", given: hActive, when: pauseAt(at),
			then:  []subscription.Event{subscription.Paused{SubscriptionID: sub, CustomerID: cus, PausedAt: utc(at)}},
			state: func(t *testing.T, s subscription.State) { require.Equal(t, subscription.StatusPaused, s.Status) },
		},
		{name: "already paused is a no-op", given: hPaused, when: pauseAt(at.Add(time.Hour))},
		{name: "pending", given: hCharged, when: pauseAt(at), err: subscription.ErrSubscriptionNotActive},
		{name: "canceling", given: hCanceling, when: pauseAt(at.Add(time.Hour)), err: subscription.ErrSubscriptionNotActive},
		{name: "past due", given: hPastDue, when: pauseAt(slot2), err: subscription.ErrSubscriptionNotActive},
		{name: "canceled", given: hCanceled, when: pauseAt(at.Add(time.Hour)), err: subscription.ErrSubscriptionCanceled},
	})
}

func TestResume(t *testing.T) {
	t.Parallel()
	paused := after(hShipped, pauseAt(local(2026, 3, 10, 12, 0)))
	slot3 := local(2026, 6, 2, 9, 0)
	resumed := func(at time.Time, pos subscription.ChargePosition, moves ...subscription.ProductMove) []subscription.Event {
		return []subscription.Event{subscription.Resumed{SubscriptionID: sub, CustomerID: cus, ResumedAt: utc(at), ChargePosition: pos, Products: moves}}
	}
	run(t, []spec{
		{
			name: "a short pause moves nothing", given: paused, when: resumeAt(local(2026, 3, 12, 12, 0)),
			then: resumed(local(2026, 3, 12, 12, 0), subscription.ChargePosition{ChargeSlot: 1, CycleEndsAt: utc(slot1), NextChargeAt: utc(slot1)}),
			state: func(t *testing.T, s subscription.State) {
				require.Equal(t, subscription.StatusActive, s.Status)
				require.Zero(t, s.PausedAt)
			},
		},
		{
			name: "what fell in the pause moves to the first schedule date on or after the resume", given: paused, when: resumeAt(local(2026, 5, 20, 12, 0)),
			then: resumed(local(2026, 5, 20, 12, 0), subscription.ChargePosition{ChargeSlot: 3, CycleEndsAt: utc(slot3), NextChargeAt: utc(slot3)},
				subscription.ProductMove{ProductID: "beans", NextShipmentOn: day(2026, 6, 2), Schedule: subscription.Schedule{AnchorOn: day0, Step: 3}},
				subscription.ProductMove{ProductID: "filters", NextShipmentOn: day(2026, 5, 28), Schedule: subscription.Schedule{AnchorOn: day(2026, 3, 5), Step: 6}},
			),
			state: func(t *testing.T, s subscription.State) {
				require.Equal(t, 1, s.Cycle, "skipped slots are not cycles")
				require.Equal(t, utc(slot3), s.NextChargeAt)
				require.Equal(t, utc(slot3), s.CycleEndsAt)
				got, err := subscription.Decide(s, charge("inv_2", slot3))
				require.NoError(t, err)
				require.Equal(t, 2, got[0].(subscription.ChargeDue).Cycle)
			},
		},
		{
			name: "a shipment on the resume day itself stays on it", given: paused, when: resumeAt(local(2026, 5, 14, 8, 0)),
			then: resumed(local(2026, 5, 14, 8, 0), subscription.ChargePosition{ChargeSlot: 3, CycleEndsAt: utc(slot3), NextChargeAt: utc(slot3)},
				subscription.ProductMove{ProductID: "beans", NextShipmentOn: day(2026, 6, 2), Schedule: subscription.Schedule{AnchorOn: day0, Step: 3}},
				subscription.ProductMove{ProductID: "filters", NextShipmentOn: day(2026, 5, 14), Schedule: subscription.Schedule{AnchorOn: day(2026, 3, 5), Step: 5}},
			),
		},
		{
			name: "resumed exactly at a charge slot: that charge is due at once", given: paused, when: resumeAt(slot2),
			then: resumed(slot2, subscription.ChargePosition{ChargeSlot: 2, CycleEndsAt: utc(slot2), NextChargeAt: utc(slot2)},
				subscription.ProductMove{ProductID: "beans", NextShipmentOn: day(2026, 5, 2), Schedule: subscription.Schedule{AnchorOn: day0, Step: 2}},
				subscription.ProductMove{ProductID: "filters", NextShipmentOn: day(2026, 5, 14), Schedule: subscription.Schedule{AnchorOn: day(2026, 3, 5), Step: 5}},
			),
		},
		{name: "already active is a no-op", given: hActive, when: resumeAt(local(2026, 3, 12, 12, 0))},
		{name: "canceling", given: hCanceling, when: resumeAt(local(2026, 3, 12, 12, 0)), err: subscription.ErrSubscriptionNotPaused},
		{name: "pending", given: hCharged, when: resumeAt(local(2026, 3, 12, 12, 0)), err: subscription.ErrSubscriptionNotPaused},
		{name: "canceled", given: hCanceled, when: resumeAt(local(2026, 3, 12, 12, 0)), err: subscription.ErrSubscriptionCanceled},
	})
}

func TestCancel(t *testing.T) {
	t.Parallel()
	at := local(2026, 3, 10, 12, 0)
	now := func(at time.Time, reason string) []subscription.Event {
		return []subscription.Event{subscription.Canceled{SubscriptionID: sub, CustomerID: cus, CanceledAt: utc(at), RequestedAt: utc(at), Reason: reason, Cause: subscription.CauseRequested}}
	}
	pastDueNone := after(hCycle2, pastDue("inv_2", subscription.FinalActionNone, local(2026, 4, 18, 10, 0)))
	requested := func(at, ends time.Time, on domain.Date, reason string) []subscription.Event {
		return []subscription.Event{subscription.CancelRequested{SubscriptionID: sub, CustomerID: cus, RequestedAt: utc(at), EndsAt: utc(ends), EndsOn: on, Reason: reason, Cause: subscription.CauseRequested}}
	}
	run(t, []spec{
		{
			name: "now", given: hActive, when: cancelAt(at, false, "moving abroad"), then: now(at, "moving abroad"),
			state: func(t *testing.T, s subscription.State) {
				require.Equal(t, subscription.StatusCanceled, s.Status)
				require.Equal(t, utc(at), s.CanceledAt)
				require.Equal(t, utc(at), s.EndsAt)
				require.Zero(t, s.NextChargeAt)
			},
		},
		{
			name: "at the end of the current cycle", given: hActive, when: cancelAt(at, true, "too much coffee"),
			then: requested(at, slot1, day(2026, 4, 2), "too much coffee"),
			state: func(t *testing.T, s subscription.State) {
				require.Equal(t, subscription.StatusCanceling, s.Status)
				require.Equal(t, utc(at), s.CancelRequestedAt)
				require.Equal(t, utc(slot1), s.EndsAt)
				require.Zero(t, s.NextChargeAt, "a canceling subscription charges nothing")
				require.Zero(t, s.CanceledAt)
			},
		},
		{name: "at period end again is a no-op", given: hCanceling, when: cancelAt(at.Add(time.Hour), true, "")},
		{name: "canceling, now", given: hCanceling, when: cancelAt(at.Add(time.Hour), false, ""), then: now(at.Add(time.Hour), "")},
		{name: "canceled is a no-op", given: hCanceled, when: cancelAt(at.Add(time.Hour), false, "")},
		{name: "pending, at period end: at once", given: hCharged, when: cancelAt(at, true, "changed my mind"), then: now(at, "changed my mind")},
		{name: "paused, at period end: at once", given: hPaused, when: cancelAt(at.Add(time.Hour), true, ""), then: now(at.Add(time.Hour), "")},
		{
			name: "past due with a non-payment cancellation: the customer's now, same end", given: hPastDue, when: cancelAt(local(2026, 4, 19, 9, 0), true, "bye"),
			then: requested(local(2026, 4, 19, 9, 0), slot2, day(2026, 5, 2), "bye"),
			state: func(t *testing.T, s subscription.State) {
				require.Equal(t, subscription.StatusPastDue, s.Status)
				require.Equal(t, subscription.CauseRequested, s.CancelCause)
			},
		},
		{
			name: "past due with no final action, at period end", given: pastDueNone, when: cancelAt(local(2026, 4, 19, 9, 0), true, ""),
			then:  requested(local(2026, 4, 19, 9, 0), slot2, day(2026, 5, 2), ""),
			state: func(t *testing.T, s subscription.State) { require.Equal(t, subscription.StatusPastDue, s.Status) },
		},
		{name: "a reason that is too long", given: hActive, when: cancelAt(at, true, strings.Repeat("x", subscription.MaxReasonLength+1)), err: domain.ErrInvalid, field: "reason"},
	})
}

func TestCompleteCancellation(t *testing.T) {
	t.Parallel()
	requestedAt := local(2026, 3, 10, 12, 0)
	atEnd := []subscription.Event{subscription.Canceled{
		SubscriptionID: sub, CustomerID: cus, CanceledAt: utc(slot1), RequestedAt: utc(requestedAt),
		AtPeriodEnd: true, Reason: "too much coffee", Cause: subscription.CauseRequested,
	}}
	run(t, []spec{
		{
			name: "canceling, at its end", given: hCanceling, when: complete(slot1), then: atEnd,
			state: func(t *testing.T, s subscription.State) {
				require.Equal(t, subscription.StatusCanceled, s.Status)
				require.Equal(t, utc(slot1), s.CanceledAt)
				require.Equal(t, utc(slot1), s.EndsAt)
				require.Equal(t, utc(requestedAt), s.CancelRequestedAt)
			},
		},
		{name: "late: it ended at its end", given: hCanceling, when: complete(slot1.Add(3 * time.Hour)), then: atEnd},
		{name: "before its end", given: hCanceling, when: complete(slot1.Add(-time.Second)), err: subscription.ErrPeriodNotEnded},
		{
			name: "past due with a cancellation scheduled", given: hPastDue, when: complete(slot2),
			then: []subscription.Event{subscription.Canceled{
				SubscriptionID: sub, CustomerID: cus, CanceledAt: utc(slot2), RequestedAt: utc(local(2026, 4, 18, 10, 0)),
				AtPeriodEnd: true, Reason: subscription.ReasonPaymentFailed, Cause: subscription.CauseNonPayment,
			}},
		},
		{name: "canceled is a no-op", given: after(hCanceling, complete(slot1)), when: complete(slot1)},
		{name: "active and open-ended", given: hActive, when: complete(slot1), err: subscription.ErrNoEndScheduled},
		{name: "pending", given: hCharged, when: complete(slot1), err: subscription.ErrNoEndScheduled},
		{name: "past due, nothing scheduled", given: after(hCycle2, pastDue("inv_2", subscription.FinalActionNone, slot1)), when: complete(slot2), err: subscription.ErrNoEndScheduled},
		{name: "paused", given: hPaused, when: complete(slot1), err: subscription.ErrSubscriptionNotActive},
	})
}
