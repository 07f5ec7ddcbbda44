package subscription_test

import (
	"fmt"
	"slices"
	"testing"
	"time"
	_ "time/tzdata" // the business zone in tests, whatever the machine has

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/subscription"
)

const (
	sub = domain.SubscriptionID("sub_1")
	cus = domain.CustomerID("cus_1")
)

var (
	ams = func() *time.Location {
		loc, err := time.LoadLocation("Europe/Amsterdam")
		if err != nil {
			panic(err)
		}
		return loc
	}()

	monthly     = domain.Interval{Unit: domain.Month, Count: 1}
	fortnightly = domain.Interval{Unit: domain.Week, Count: 2}
	weekly      = domain.Interval{Unit: domain.Week, Count: 1}

	plan = subscription.Plan{Name: "Coffee Club", Price: eur(2995), Interval: monthly}

	// t0 is the sign-up: Monday 2 March 2026, 09:00 in Amsterdam (CET).
	t0   = local(2026, 3, 2, 9, 0)
	day0 = day(2026, 3, 2)
	// slot1 and slot2 are the second and third charges: 09:00 CEST.
	slot1 = local(2026, 4, 2, 9, 0)
	slot2 = local(2026, 5, 2, 9, 0)
)

func local(y int, m time.Month, d, h, mi int) time.Time { return time.Date(y, m, d, h, mi, 0, 0, ams) }
func utc(t time.Time) time.Time                         { return t.UTC() }
func day(y int, m time.Month, d int) domain.Date        { return domain.Date{Year: y, Month: m, Day: d} }
func eur(cents int64) domain.Money                      { return domain.Cents(cents) }
func ptr[T any](v T) *T                                 { return &v }

func beans() subscription.NewProduct {
	return subscription.NewProduct{ProductID: "beans", Name: "Espresso beans 1kg", Quantity: 2, Interval: monthly, FirstShipmentOn: day0}
}

func filters() subscription.NewProduct {
	return subscription.NewProduct{ProductID: "filters", Name: "Paper filters", Quantity: 1, Interval: fortnightly, FirstShipmentOn: day(2026, 3, 5), Price: ptr(eur(450))}
}

func beansLine() subscription.ProductLine {
	return subscription.ProductLine{ProductID: "beans", Name: "Espresso beans 1kg", Quantity: 2, Interval: monthly, NextShipmentOn: day0, Schedule: subscription.Schedule{AnchorOn: day0}}
}

func filtersLine() subscription.ProductLine {
	return subscription.ProductLine{ProductID: "filters", Name: "Paper filters", Quantity: 1, Interval: fortnightly, Price: ptr(eur(450)), NextShipmentOn: day(2026, 3, 5), Schedule: subscription.Schedule{AnchorOn: day(2026, 3, 5)}}
}

// Commands, with the fixture's ids and zone.

func create() subscription.Create {
	return subscription.Create{
		SubscriptionID: sub, CustomerID: cus, Plan: plan, DeliveryMethod: subscription.Delivery,
		PaymentMethodID: "pm_card_visa", Products: []subscription.NewProduct{beans(), filters()},
		At: t0, Location: ams,
	}
}

func createAt(at time.Time, iv domain.Interval, term *int) subscription.Create {
	c := create()
	c.At, c.Plan.Interval, c.TermCycles = at, iv, term
	c.Products = []subscription.NewProduct{{ProductID: "beans", Name: "Espresso beans 1kg", Quantity: 1, Interval: monthly, FirstShipmentOn: domain.DateIn(at, ams)}}
	return c
}

func charge(inv string, at time.Time) subscription.RecordChargeDue {
	return subscription.RecordChargeDue{SubscriptionID: sub, InvoiceID: domain.InvoiceID(inv), At: at, Location: ams}
}

func pay(inv, payment string, cents int64, at time.Time) subscription.RecordPayment {
	return subscription.RecordPayment{SubscriptionID: sub, InvoiceID: domain.InvoiceID(inv), PaymentID: domain.PaymentID(payment), Amount: eur(cents), At: at, Location: ams}
}

func refund(inv string, cents int64, at time.Time) subscription.RecordRefund {
	return subscription.RecordRefund{SubscriptionID: sub, InvoiceID: domain.InvoiceID(inv), Amount: eur(cents), At: at}
}

func shipDue(product string, due domain.Date, order string, today domain.Date) subscription.RecordShipmentDue {
	return subscription.RecordShipmentDue{SubscriptionID: sub, ProductID: domain.ProductID(product), DueOn: due, OrderID: domain.OrderID(order), Today: today}
}

func shipNow(product, order string, today domain.Date) subscription.ShipNow {
	return subscription.ShipNow{SubscriptionID: sub, ProductID: domain.ProductID(product), OrderID: domain.OrderID(order), Today: today}
}

func pauseAt(at time.Time) subscription.Pause { return subscription.Pause{SubscriptionID: sub, At: at} }

func resumeAt(at time.Time) subscription.Resume {
	return subscription.Resume{SubscriptionID: sub, At: at, Location: ams}
}

func cancelAt(at time.Time, atPeriodEnd bool, reason string) subscription.Cancel {
	return subscription.Cancel{SubscriptionID: sub, AtPeriodEnd: atPeriodEnd, Reason: reason, At: at, Location: ams}
}

func complete(at time.Time) subscription.CompleteCancellation {
	return subscription.CompleteCancellation{SubscriptionID: sub, At: at}
}

func pastDue(inv string, action subscription.FinalAction, at time.Time) subscription.MarkPastDue {
	return subscription.MarkPastDue{SubscriptionID: sub, InvoiceID: domain.InvoiceID(inv), FinalAction: action, At: at, Location: ams}
}

// history decides cmds one after another from the zero state and returns
// every event, panicking on a rejected command: it builds "given" histories
// through the real command path, so they are always histories Decide can
// produce.
func history(cmds ...subscription.Command) []subscription.Event {
	return after(nil, cmds...)
}

// after is history on top of base (which it does not modify).
func after(base []subscription.Event, cmds ...subscription.Command) []subscription.Event {
	events := slices.Clone(base)
	s := subscription.Fold(events...)
	for _, c := range cmds {
		got, err := subscription.Decide(s, c)
		if err != nil {
			panic(fmt.Sprintf("history: %T: %v", c, err))
		}
		for _, e := range got {
			s = subscription.Evolve(s, e)
		}
		events = append(events, got...)
	}
	return slices.Clip(events)
}

// The fixture's histories.
var (
	hPending  = history(create())
	hCharged  = after(hPending, charge("inv_1", t0))
	hActive   = after(hCharged, pay("inv_1", "pay_1", 2995, t0.Add(time.Minute)))
	hPaused   = after(hActive, pauseAt(local(2026, 3, 10, 12, 0)))
	hCanceled = after(hActive, cancelAt(local(2026, 3, 10, 12, 0), false, "moving abroad"))
	// hCanceling ends at slot1 (2 April, business day 2026-04-02).
	hCanceling = after(hActive, cancelAt(local(2026, 3, 10, 12, 0), true, "too much coffee"))
	// hPastDue: cycle 2 (inv_2) failed for good on 18 April.
	hCycle2  = after(hActive, charge("inv_2", slot1))
	hPastDue = after(hCycle2, pastDue("inv_2", "", local(2026, 4, 18, 10, 0)))
)

// spec is one given-events / when-command / then-events-or-error case.
type spec struct {
	name  string
	given []subscription.Event
	when  subscription.Command
	then  []subscription.Event // nil with a nil err: the command is a no-op
	err   error                // a sentinel, or domain.ErrInvalid
	field string               // the field a validation error names
	state func(t *testing.T, s subscription.State)
}

func run(t *testing.T, specs []spec) {
	t.Helper()
	for _, sp := range specs {
		t.Run(sp.name, func(t *testing.T) {
			t.Parallel()
			s := subscription.Fold(sp.given...)
			got, err := subscription.Decide(s, sp.when)
			if sp.err != nil {
				require.ErrorIs(t, err, sp.err)
				require.Nil(t, got)
				if sp.field != "" {
					var de *domain.Error
					require.ErrorAs(t, err, &de)
					require.Equal(t, sp.field, de.Field, "%v", err)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, sp.then, got)
			for _, e := range got {
				requireRoundTrip(t, e)
				s = subscription.Evolve(s, e)
			}
			if sp.state != nil {
				sp.state(t, s)
			}
		})
	}
}

// requireRoundTrip checks that e survives the codec unchanged.
func requireRoundTrip(t *testing.T, e subscription.Event) {
	t.Helper()
	name, data, err := subscription.Codec.Encode(e)
	require.NoError(t, err)
	require.Equal(t, e.EventType(), name)
	back, err := subscription.Codec.Decode(name, data)
	require.NoError(t, err, "%s", data)
	require.Equal(t, e, back, "%s", data)
}

func product(t *testing.T, s subscription.State, id domain.ProductID) subscription.Product {
	t.Helper()
	p, ok := s.Product(id)
	require.True(t, ok, "product %s", id)
	return p
}
