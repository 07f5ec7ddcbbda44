package subscription_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/subscription"
)

// TestRandomHistoriesKeepTheInvariants drives the aggregate with random
// command sequences generated from the current state (most valid, some
// not), on a clock that only moves forward, and checks after every step:
//   - nothing ships unless the subscription is active or canceling (and
//     never on or after its end day), nothing charges unless it is active
//     (or pending, for the first charge);
//   - total_paid is the sum of the payments less the refunds, never negative;
//   - next_charge_at never moves backwards; a product's next_shipment_on
//     never moves backwards except when set by hand or by ship now, and
//     then never into the past; it is always its schedule's date;
//   - canceled is final; cycles never exceed the term;
//   - the state built step by step equals Fold of the events, twice;
//   - every event round-trips through the codec;
//   - every rejection is a domain error a client can act on.
func TestRandomHistoriesKeepTheInvariants(t *testing.T) {
	t.Parallel()
	fixed := []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 42, 1234, 99991}
	seeds := slices.Clone(fixed)
	for range 3 {
		seeds = append(seeds, rand.Uint64())
	}
	var (
		mu   sync.Mutex
		seen = map[string]int{}
	)
	t.Run("seeds", func(t *testing.T) {
		for _, seed := range seeds {
			t.Run(fmt.Sprint(seed), func(t *testing.T) {
				t.Parallel()
				t.Logf("seed %d (add it to the fixed list to replay a failure)", seed)
				w := newWorld(seed)
				for step := range 1000 {
					w.step(t, step)
				}
				t.Logf("%d lives, %d of 1000 commands accepted", w.lives, w.accepted)
				if slices.Contains(fixed, seed) {
					mu.Lock()
					defer mu.Unlock()
					for name, n := range w.seen {
						seen[name] += n
					}
				}
			})
		}
	})
	// The generator must reach every event, or the invariants are checked
	// on less than the whole aggregate.
	t.Logf("events over the fixed seeds: %v", seen)
	for _, e := range oneOfEach() {
		require.Positive(t, seen[e.EventType()], "no random history produced %s", e.EventType())
	}
}

type world struct {
	rng      *rand.Rand
	now      time.Time
	s        subscription.State
	events   []subscription.Event
	accepted int
	seq      int

	paid, refunded int64
	lastNextCharge time.Time
	nextShip       map[domain.ProductID]domain.Date
	wasCanceled    bool

	lives int
	seen  map[string]int
}

func newWorld(seed uint64) *world {
	return &world{
		rng:      rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		now:      local(2026, 1, 28, 9, 0), // near a month's end and DST
		nextShip: map[domain.ProductID]domain.Date{},
		seen:     map[string]int{},
	}
}

// reborn ends a life that is over: the next step creates a new
// subscription, on the same clock. It checks the finished history first.
func (w *world) reborn(t *testing.T) {
	require.Equal(t, w.s, subscription.Fold(w.events...))
	require.Equal(t, subscription.Fold(w.events...), subscription.Fold(w.events...))
	w.s, w.events = subscription.State{}, nil
	w.paid, w.refunded = 0, 0
	w.lastNextCharge, w.wasCanceled = time.Time{}, false
	clear(w.nextShip)
}

func (w *world) today() domain.Date { return domain.DateIn(w.now, ams) }

func (w *world) id(prefix string) string { w.seq++; return fmt.Sprintf("%s%d", prefix, w.seq) }

// advanceTo moves the clock forward to t (never back).
func (w *world) advanceTo(t time.Time) {
	if t.After(w.now) {
		w.now = t
	}
}

func (w *world) pick(n int) int { return w.rng.IntN(n) }

func (w *world) chance(p float64) bool { return w.rng.Float64() < p }

var products = []domain.ProductID{"p1", "p2", "p3", "p4"}

var intervals = []domain.Interval{
	{Unit: domain.Week, Count: 1}, {Unit: domain.Week, Count: 2}, {Unit: domain.Month, Count: 1},
	{Unit: domain.Month, Count: 2}, {Unit: domain.Year, Count: 1},
}

func (w *world) newProduct(id domain.ProductID) subscription.NewProduct {
	p := subscription.NewProduct{
		ProductID: id, Name: "Product " + string(id), Quantity: 1 + w.pick(3),
		Interval: intervals[w.pick(len(intervals))], FirstShipmentOn: w.today().AddDays(w.pick(20)),
	}
	if w.chance(0.4) {
		p.Price = ptr(eur(int64(100 + w.pick(2000))))
	}
	if w.chance(0.05) {
		p.FirstShipmentOn = w.today().AddDays(-1) // rejected
	}
	return p
}

// someProduct is a product of the subscription, now and then one it lacks.
func (w *world) someProduct() domain.ProductID {
	if len(w.s.Products) == 0 || w.chance(0.05) {
		return products[w.pick(len(products))]
	}
	return w.s.Products[w.pick(len(w.s.Products))].ProductID
}

// someInvoice is an invoice the subscription knows, now and then another.
func (w *world) someInvoice() domain.InvoiceID {
	ids := make([]domain.InvoiceID, 0, len(w.s.Invoices))
	for id := range w.s.Invoices {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	if len(ids) == 0 || w.chance(0.1) {
		return domain.InvoiceID(w.id("inv_x"))
	}
	if w.chance(0.6) && w.s.LastChargeInvoiceID != "" {
		return w.s.LastChargeInvoiceID
	}
	return ids[w.pick(len(ids))]
}

func (w *world) command() subscription.Command {
	if !w.s.Exists() {
		c := createAt(w.now, intervals[w.pick(len(intervals))], nil)
		c.Products = nil
		for _, id := range products[:1+w.pick(len(products))] {
			c.Products = append(c.Products, w.newProduct(id))
		}
		if w.chance(0.4) {
			c.TermCycles = ptr(1 + w.pick(5))
		}
		if w.chance(0.3) {
			c.DeliveryMethod = subscription.Pickup
		}
		return c
	}
	k := w.pick(19)
	if (k == 6 || k == 9) && w.chance(0.6) {
		k = w.pick(6) // ending a life is rarer than living it
	}
	switch k {
	case 0, 1, 2: // the scheduler charges when next_charge_at comes
		if !w.s.NextChargeAt.IsZero() && w.chance(0.9) {
			w.advanceTo(w.s.NextChargeAt.Add(time.Duration(w.pick(3)) * time.Hour))
		}
		inv := domain.InvoiceID(w.id("inv_"))
		if w.chance(0.05) && w.s.LastChargeInvoiceID != "" {
			inv = w.s.LastChargeInvoiceID // a retried job
		}
		return subscription.RecordChargeDue{SubscriptionID: sub, InvoiceID: inv, At: w.now, Location: ams}
	case 3, 4: // Stripe says an invoice is paid
		inv := w.someInvoice()
		amount := int64(1 + w.pick(3000))
		if l := w.s.Invoices[inv]; l.Cycle > 0 {
			if due := l.Amount.Amount() - l.Paid.Amount(); due > 0 {
				amount = due
			}
		}
		payment := domain.PaymentID(w.id("pay_"))
		if w.chance(0.05) && len(w.s.Payments) > 0 {
			for id := range w.s.Payments { // a redelivered webhook
				payment = id
				break
			}
		}
		return subscription.RecordPayment{SubscriptionID: sub, InvoiceID: inv, PaymentID: payment, Amount: eur(amount), At: w.now, Location: ams}
	case 5: // a refund, sometimes more than was paid
		inv := w.someInvoice()
		l := w.s.Invoices[inv]
		left := l.Paid.Amount() - l.Refunded.Amount()
		amount := int64(1 + w.pick(int(max(left, 1))))
		if w.chance(0.2) {
			amount = left + 1
		}
		return subscription.RecordRefund{SubscriptionID: sub, InvoiceID: inv, Amount: eur(amount), At: w.now}
	case 6: // the last dunning retry failed
		actions := []subscription.FinalAction{"", subscription.FinalActionCancelAtPeriodEnd, subscription.FinalActionCancelNow, subscription.FinalActionNone}
		return subscription.MarkPastDue{SubscriptionID: sub, InvoiceID: w.someInvoice(), FinalAction: actions[w.pick(len(actions))], At: w.now, Location: ams}
	case 7:
		return subscription.Pause{SubscriptionID: sub, At: w.now}
	case 8:
		w.advanceTo(w.now.Add(time.Duration(w.pick(24*60)) * time.Hour)) // pauses can be long
		return subscription.Resume{SubscriptionID: sub, At: w.now, Location: ams}
	case 9:
		return subscription.Cancel{SubscriptionID: sub, AtPeriodEnd: w.chance(0.7), Reason: "r", At: w.now, Location: ams}
	case 10: // the scheduler ends what is due to end
		if !w.s.EndsAt.IsZero() && w.chance(0.8) {
			w.advanceTo(w.s.EndsAt)
		}
		return subscription.CompleteCancellation{SubscriptionID: sub, At: w.now}
	case 11:
		return subscription.AddProduct{SubscriptionID: sub, Product: w.newProduct(products[w.pick(len(products))]), Today: w.today()}
	case 12:
		return subscription.ChangeProductInterval{SubscriptionID: sub, ProductID: w.someProduct(), Interval: intervals[w.pick(len(intervals))]}
	case 13:
		return subscription.SetNextShipment{SubscriptionID: sub, ProductID: w.someProduct(), On: w.today().AddDays(w.pick(60) - 3), Today: w.today()}
	case 14:
		return subscription.ShipNow{SubscriptionID: sub, ProductID: w.someProduct(), OrderID: domain.OrderID(w.id("ord_")), Today: w.today()}
	case 15:
		return subscription.SkipShipment{SubscriptionID: sub, ProductID: w.someProduct()}
	case 16:
		if w.chance(0.5) {
			return subscription.RemoveProduct{SubscriptionID: sub, ProductID: w.someProduct()}
		}
		fallthrough
	default: // the scheduler ships what is due
		id := w.someProduct()
		p, ok := w.s.Product(id)
		due := w.today()
		if ok {
			due = p.NextShipmentOn
			if w.chance(0.9) && due.After(w.today()) {
				w.advanceTo(due.Time(ams).Add(6 * time.Hour))
			}
		}
		order := domain.OrderID(w.id("ord_"))
		if ok && w.chance(0.05) && p.LastOrderID != "" {
			order = p.LastOrderID // a retried job
		}
		return subscription.RecordShipmentDue{SubscriptionID: sub, ProductID: id, DueOn: due, OrderID: order, Today: w.today()}
	}
}

func (w *world) step(t *testing.T, n int) {
	if w.s.Status == subscription.StatusCanceled && w.chance(0.2) {
		w.reborn(t)
	}
	if !w.s.Exists() {
		w.lives++
	}
	w.advanceTo(w.now.Add(time.Duration(w.pick(60*60*24*3)) * time.Second))
	c := w.command()
	before := w.s
	events, err := subscription.Decide(before, c)
	if err != nil {
		var de *domain.Error
		require.True(t, errors.As(err, &de), "step %d: %T rejected with an internal error: %v", n, c, err)
		require.Nil(t, events)
		require.Equal(t, before, w.s)
		return
	}
	w.accepted++
	for _, e := range events {
		requireRoundTrip(t, e)
		w.seen[e.EventType()]++
		switch e := e.(type) {
		case subscription.ShipmentDue:
			require.Contains(t, []subscription.Status{subscription.StatusActive, subscription.StatusCanceling}, before.Status, "step %d: shipped while %s", n, before.Status)
			if !before.EndsOn.IsZero() {
				require.True(t, e.DueOn.Before(before.EndsOn), "step %d: shipped on %s, the subscription ends on %s", n, e.DueOn, before.EndsOn)
			}
		case subscription.ChargeDue:
			ok := before.Status == subscription.StatusActive || before.Status == subscription.StatusPending && before.Cycle == 0
			require.True(t, ok, "step %d: charged while %s (cycle %d)", n, before.Status, before.Cycle)
		case subscription.PaymentReceived:
			w.paid += e.Amount.Amount()
		case subscription.RefundRecorded:
			w.refunded += e.Amount.Amount()
		}
		prev := w.s
		w.s = subscription.Evolve(w.s, e)
		w.checkShipmentDates(t, n, prev, e)
	}
	w.events = append(w.events, events...)

	s := w.s
	require.Equal(t, w.paid-w.refunded, s.TotalPaid.Amount(), "step %d: total paid", n)
	require.False(t, s.TotalPaid.IsNegative())
	if !s.NextChargeAt.IsZero() {
		require.False(t, s.NextChargeAt.Before(w.lastNextCharge), "step %d: next charge moved back from %s to %s", n, w.lastNextCharge, s.NextChargeAt)
		w.lastNextCharge = s.NextChargeAt
	}
	if w.wasCanceled {
		require.Equal(t, subscription.StatusCanceled, s.Status, "step %d: canceled is final", n)
	}
	w.wasCanceled = s.Status == subscription.StatusCanceled
	if s.TermCycles > 0 {
		require.LessOrEqual(t, s.Cycle, s.TermCycles)
	}
	if s.Cycle > 0 {
		require.True(t, s.CycleStartedAt.Before(s.CycleEndsAt))
	}
	for _, p := range s.Products {
		require.Equal(t, domain.Nth(p.Schedule.AnchorOn, p.Interval, p.Schedule.Step), p.NextShipmentOn, "step %d: %s off its schedule", n, p.ProductID)
	}
	require.Equal(t, s, subscription.Fold(w.events...), "step %d: the state is the fold of its events", n)
}

// checkShipmentDates checks one event's effect on next_shipment_on.
func (w *world) checkShipmentDates(t *testing.T, n int, prev subscription.State, e subscription.Event) {
	t.Helper()
	for _, p := range w.s.Products {
		old, had := w.nextShip[p.ProductID]
		_, existed := prev.Product(p.ProductID)
		byHand := false
		switch e := e.(type) {
		case subscription.NextShipmentSet:
			byHand = e.ProductID == p.ProductID
		case subscription.ShipmentDue:
			byHand = e.ProductID == p.ProductID && e.ShipNow
		}
		switch {
		case !existed || !had:
		case byHand:
			require.False(t, p.NextShipmentOn.Before(w.today()), "step %d: %s set into the past", n, p.ProductID)
		default:
			require.False(t, p.NextShipmentOn.Before(old), "step %d: %s moved back from %s to %s by %s", n, p.ProductID, old, p.NextShipmentOn, e.EventType())
		}
		w.nextShip[p.ProductID] = p.NextShipmentOn
	}
	for id := range w.nextShip {
		if _, ok := w.s.Product(id); !ok {
			delete(w.nextShip, id)
		}
	}
}
