package subscription_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/subscription"
)

// chargeThrough creates a subscription signed up at start, pays its first
// charge, and records n further charges, each at its next_charge_at. It
// returns every charge's due instant, in the business zone.
func chargeThrough(t *testing.T, start time.Time, iv domain.Interval, n int) []time.Time {
	t.Helper()
	events := history(createAt(start, iv, nil), charge("inv_1", start), pay("inv_1", "pay_1", 2995, start))
	s := subscription.Fold(events...)
	var due []time.Time
	for _, e := range events {
		if c, ok := e.(subscription.ChargeDue); ok {
			due = append(due, c.DueAt.In(ams))
		}
	}
	for i := 2; i <= n+1; i++ {
		got, err := subscription.Decide(s, charge(fmt.Sprintf("inv_%d", i), s.NextChargeAt))
		require.NoError(t, err)
		require.Len(t, got, 1)
		c := got[0].(subscription.ChargeDue)
		require.Equal(t, i, c.Cycle)
		require.Equal(t, s.NextChargeAt, c.DueAt)
		due = append(due, c.DueAt.In(ams))
		s = subscription.Evolve(s, c)
	}
	return due
}

func TestChargesKeepTheAnchorDay(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start time.Time
		want  []domain.Date
	}{
		{
			name: "the 31st, non-leap year", start: local(2026, 1, 31, 9, 0),
			want: []domain.Date{day(2026, 1, 31), day(2026, 2, 28), day(2026, 3, 31), day(2026, 4, 30), day(2026, 5, 31)},
		},
		{
			name: "the 31st, leap year", start: local(2028, 1, 31, 9, 0),
			want: []domain.Date{day(2028, 1, 31), day(2028, 2, 29), day(2028, 3, 31), day(2028, 4, 30), day(2028, 5, 31)},
		},
		{
			name: "a leap day, monthly", start: local(2028, 2, 29, 9, 0),
			want: []domain.Date{day(2028, 2, 29), day(2028, 3, 29), day(2028, 4, 29), day(2028, 5, 29), day(2028, 6, 29)},
		},
		{
			name: "the 30th across February", start: local(2027, 1, 30, 9, 0),
			want: []domain.Date{day(2027, 1, 30), day(2027, 2, 28), day(2027, 3, 30), day(2027, 4, 30), day(2027, 5, 30)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			due := chargeThrough(t, tc.start, monthly, len(tc.want)-1)
			for i, at := range due {
				require.Equal(t, tc.want[i], domain.DateOf(at), "charge %d", i+1)
				require.Equal(t, 9, at.Hour(), "charge %d stays at 09:00 local", i+1)
			}
		})
	}
}

func TestYearlyChargeOnALeapDay(t *testing.T) {
	t.Parallel()
	yearly := domain.Interval{Unit: domain.Year, Count: 1}
	due := chargeThrough(t, local(2028, 2, 29, 9, 0), yearly, 4)
	want := []domain.Date{day(2028, 2, 29), day(2029, 2, 28), day(2030, 2, 28), day(2031, 2, 28), day(2032, 2, 29)}
	for i, at := range due {
		require.Equal(t, want[i], domain.DateOf(at))
	}
}

func TestChargesStayAtTheLocalTimeAcrossDST(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name              string
		start             time.Time
		firstUTC, nextUTC time.Time
	}{
		{
			name: "spring forward (29 March 2026)", start: local(2026, 3, 10, 9, 0),
			firstUTC: time.Date(2026, 3, 10, 8, 0, 0, 0, time.UTC), nextUTC: time.Date(2026, 4, 10, 7, 0, 0, 0, time.UTC),
		},
		{
			name: "fall back (25 October 2026)", start: local(2026, 10, 10, 9, 0),
			firstUTC: time.Date(2026, 10, 10, 7, 0, 0, 0, time.UTC), nextUTC: time.Date(2026, 11, 10, 8, 0, 0, 0, time.UTC),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			due := chargeThrough(t, tc.start, monthly, 12)
			require.Equal(t, tc.firstUTC, due[0].UTC())
			require.Equal(t, tc.nextUTC, due[1].UTC())
			for i, at := range due {
				require.Equal(t, 9, at.Hour(), "charge %d at %s", i+1, at)
				require.Equal(t, 0, at.Minute())
				require.Equal(t, 10, at.Day())
			}
		})
	}
	t.Run("weekly across the change", func(t *testing.T) {
		t.Parallel()
		due := chargeThrough(t, local(2026, 3, 23, 9, 0), weekly, 2)
		require.Equal(t, []time.Time{local(2026, 3, 23, 9, 0), local(2026, 3, 30, 9, 0), local(2026, 4, 6, 9, 0)}, due)
		require.Equal(t, 167*time.Hour, due[1].Sub(due[0]), "the week with the change is an hour short")
	})
}

func TestProductScheduleKeepsTheAnchorDay(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		start time.Time
		want  []domain.Date
	}{
		{
			name: "non-leap year", start: local(2026, 1, 31, 9, 0),
			want: []domain.Date{day(2026, 1, 31), day(2026, 2, 28), day(2026, 3, 31), day(2026, 4, 30), day(2026, 5, 31)},
		},
		{
			name: "leap year", start: local(2028, 1, 31, 9, 0),
			want: []domain.Date{day(2028, 1, 31), day(2028, 2, 29), day(2028, 3, 31), day(2028, 4, 30), day(2028, 5, 31)},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := subscription.Fold(history(createAt(tc.start, monthly, nil), charge("inv_1", tc.start), pay("inv_1", "pay_1", 2995, tc.start))...)
			for i := 0; i+1 < len(tc.want); i++ {
				due := product(t, s, "beans").NextShipmentOn
				require.Equal(t, tc.want[i], due)
				got, err := subscription.Decide(s, shipDue("beans", due, fmt.Sprintf("ord_%d", i), due))
				require.NoError(t, err)
				require.Equal(t, tc.want[i+1], got[0].(subscription.ShipmentDue).NextShipmentOn)
				s = subscription.Evolve(s, got[0])
			}
		})
	}
	t.Run("ship now on the 31st re-anchors there", func(t *testing.T) {
		t.Parallel()
		start := local(2026, 1, 20, 9, 0)
		s := subscription.Fold(history(createAt(start, monthly, nil), charge("inv_1", start), pay("inv_1", "pay_1", 2995, start))...)
		got, err := subscription.Decide(s, shipNow("beans", "ord_now", day(2026, 1, 31)))
		require.NoError(t, err)
		e := got[0].(subscription.ShipmentDue)
		require.Equal(t, day(2026, 1, 31), e.DueOn)
		require.Equal(t, day(2026, 2, 28), e.NextShipmentOn)
		s = subscription.Evolve(s, e)
		got, err = subscription.Decide(s, shipDue("beans", day(2026, 2, 28), "ord_2", day(2026, 2, 28)))
		require.NoError(t, err)
		require.Equal(t, day(2026, 3, 31), got[0].(subscription.ShipmentDue).NextShipmentOn)
	})
	t.Run("skip from the 31st, twice", func(t *testing.T) {
		t.Parallel()
		start := local(2026, 1, 31, 9, 0)
		events := history(createAt(start, monthly, nil),
			subscription.SkipShipment{SubscriptionID: sub, ProductID: "beans"},
			subscription.SkipShipment{SubscriptionID: sub, ProductID: "beans"})
		require.Equal(t, day(2026, 3, 31), product(t, subscription.Fold(events...), "beans").NextShipmentOn)
	})
}

func TestTermCycles(t *testing.T) {
	t.Parallel()
	slot3 := local(2026, 6, 2, 9, 0)
	c := create()
	c.TermCycles = ptr(3)
	charged := history(c, charge("inv_1", t0), pay("inv_1", "pay_1", 2995, t0), charge("inv_2", slot1))
	last := subscription.ChargeDue{
		SubscriptionID: sub, CustomerID: cus, InvoiceID: "inv_3", Cycle: 3, Amount: eur(2995), PlanName: "Coffee Club", PaymentMethodID: "pm_card_visa",
		DueAt: utc(slot2), CycleStartedAt: utc(slot2), CycleEndsAt: utc(slot3), ChargeSlot: 3,
		FinalCycle: true, EndsAt: utc(slot3), EndsOn: day(2026, 6, 2),
	}
	done := after(charged, charge("inv_3", slot2))
	beansOnEndDay := after(done,
		subscription.SetNextShipment{SubscriptionID: sub, ProductID: "beans", On: day(2026, 6, 2), Today: day(2026, 5, 3)})
	run(t, []spec{
		{
			name: "the last cycle: no next charge, the subscription ends with the cycle", given: charged, when: charge("inv_3", slot2),
			then: []subscription.Event{last},
			state: func(t *testing.T, s subscription.State) {
				require.Equal(t, subscription.StatusActive, s.Status)
				require.True(t, s.TermDone())
				require.Zero(t, s.NextChargeAt)
				require.Equal(t, utc(slot3), s.EndsAt)
			},
		},
		{name: "no charge after the last cycle", given: done, when: charge("inv_4", slot3), err: subscription.ErrTermCompleted},
		{name: "ships before the end day", given: done, when: shipNow("beans", "ord_9", day(2026, 6, 1)), then: []subscription.Event{
			func() subscription.ShipmentDue {
				e := beansDue("ord_9", day(2026, 6, 1), day(2026, 7, 1), subscription.Schedule{AnchorOn: day(2026, 6, 1), Step: 1})
				e.ShipNow = true
				return e
			}(),
		}},
		{name: "nothing due on the end day ships", given: beansOnEndDay, when: shipDue("beans", day(2026, 6, 2), "ord_9", day(2026, 6, 2)), err: subscription.ErrShipmentAfterEnd},
		{name: "ends no earlier than its end", given: done, when: complete(slot3.Add(-time.Minute)), err: subscription.ErrPeriodNotEnded},
		{
			name: "ends at its end", given: done, when: complete(slot3.Add(time.Minute)),
			then: []subscription.Event{subscription.TermCompleted{SubscriptionID: sub, CustomerID: cus, EndedAt: utc(slot3), Cycles: 3}},
			state: func(t *testing.T, s subscription.State) {
				require.Equal(t, subscription.StatusCanceled, s.Status)
				require.Equal(t, utc(slot3), s.CanceledAt)
				require.Equal(t, utc(slot3), s.EndsAt)
			},
		},
		{
			name: "a pause in the last cycle moves the end on resume", given: after(done, pauseAt(local(2026, 5, 10, 9, 0))), when: resumeAt(local(2026, 6, 20, 9, 0)),
			then: []subscription.Event{subscription.Resumed{
				SubscriptionID: sub, CustomerID: cus, ResumedAt: utc(local(2026, 6, 20, 9, 0)),
				ChargePosition: subscription.ChargePosition{ChargeSlot: 4, CycleEndsAt: utc(local(2026, 7, 2, 9, 0)), EndsAt: utc(local(2026, 7, 2, 9, 0)), EndsOn: day(2026, 7, 2)},
				Products: []subscription.ProductMove{
					{ProductID: "beans", NextShipmentOn: day(2026, 7, 2), Schedule: subscription.Schedule{AnchorOn: day0, Step: 4}},
					{ProductID: "filters", NextShipmentOn: day(2026, 6, 25), Schedule: subscription.Schedule{AnchorOn: day(2026, 3, 5), Step: 8}},
				},
			}},
		},
	})
}

func TestCancelAtPeriodEndThroughToCanceled(t *testing.T) {
	t.Parallel()
	s := subscription.Fold(hShipped...)
	step := func(c subscription.Command) []subscription.Event {
		t.Helper()
		got, err := subscription.Decide(s, c)
		require.NoError(t, err)
		for _, e := range got {
			requireRoundTrip(t, e)
			s = subscription.Evolve(s, e)
		}
		return got
	}

	step(cancelAt(local(2026, 3, 10, 12, 0), true, "too much coffee"))
	require.Equal(t, subscription.StatusCanceling, s.Status)
	require.Equal(t, utc(slot1), s.EndsAt)
	require.Zero(t, s.NextChargeAt)

	// Once cancellation is requested nothing more ships or charges.
	_, err := subscription.Decide(s, shipDue("filters", day(2026, 3, 19), "ord_3", day(2026, 3, 19)))
	require.ErrorIs(t, err, subscription.ErrSubscriptionCanceled)
	_, err = subscription.Decide(s, charge("inv_2", slot1))
	require.ErrorIs(t, err, subscription.ErrSubscriptionNotActive)
	_, err = subscription.Decide(s, complete(slot1.Add(-time.Minute)))
	require.ErrorIs(t, err, subscription.ErrPeriodNotEnded)

	step(complete(slot1))
	require.Equal(t, subscription.StatusCanceled, s.Status)
	require.Equal(t, utc(slot1), s.CanceledAt)

	today := day(2026, 4, 3)
	for _, c := range []subscription.Command{
		shipNow("beans", "ord_9", today),
		shipDue("beans", day(2026, 4, 2), "ord_9", today),
		subscription.SkipShipment{SubscriptionID: sub, ProductID: "beans"},
		subscription.AddProduct{SubscriptionID: sub, Product: grinder(), Today: day(2026, 3, 20)},
		subscription.RemoveProduct{SubscriptionID: sub, ProductID: "beans"},
		subscription.ChangeProductInterval{SubscriptionID: sub, ProductID: "beans", Interval: weekly},
		subscription.SetNextShipment{SubscriptionID: sub, ProductID: "beans", On: today, Today: today},
		charge("inv_2", slot1),
		pauseAt(slot1),
		resumeAt(slot1),
		pastDue("inv_1", "", slot1),
	} {
		_, err := subscription.Decide(s, c)
		require.ErrorIs(t, err, subscription.ErrSubscriptionCanceled, "%T", c)
	}
	// Money still moves.
	require.Len(t, step(refund("inv_1", 2995, slot1.Add(time.Hour))), 1)
	require.Equal(t, eur(0), s.TotalPaid)
}

func TestSubscribedDays(t *testing.T) {
	t.Parallel()
	now := local(2026, 3, 12, 8, 0)
	require.Equal(t, 0, subscription.SubscribedDays(subscription.Fold(hCharged...), now), "pending")
	require.Equal(t, 10, subscription.SubscribedDays(subscription.Fold(hActive...), now))
	require.Equal(t, 0, subscription.SubscribedDays(subscription.Fold(hActive...), t0.Add(2*time.Hour)), "the day of activation")
	require.Equal(t, 8, subscription.SubscribedDays(subscription.Fold(hCanceled...), now), "counted up to the cancellation")
	require.Equal(t, 8, subscription.SubscribedDays(subscription.Fold(hCanceled...), local(2027, 1, 1, 0, 0)))
}
