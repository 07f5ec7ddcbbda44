package subscription_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/subscription"
)

// oneOfEach is an example of every event, with its optional fields set.
func oneOfEach() []subscription.Event {
	sched := subscription.Schedule{AnchorOn: day0, Step: 2}
	pos := subscription.ChargePosition{ChargeSlot: 3, CycleEndsAt: utc(slot2), NextChargeAt: utc(slot2), EndsAt: utc(slot2), EndsOn: day(2026, 5, 2)}
	e := created()
	e.TermCycles = ptr(12)
	return []subscription.Event{
		e,
		subscription.ProductAdded{SubscriptionID: sub, CustomerID: cus, Product: filtersLine()},
		subscription.ProductIntervalChanged{SubscriptionID: sub, CustomerID: cus, ProductID: "beans", Interval: weekly, NextShipmentOn: day0, Schedule: sched},
		subscription.NextShipmentSet{SubscriptionID: sub, CustomerID: cus, ProductID: "beans", NextShipmentOn: day0, Schedule: sched},
		subscription.ShipmentSkipped{SubscriptionID: sub, CustomerID: cus, ProductID: "beans", SkippedOn: day0, NextShipmentOn: day(2026, 4, 2), Schedule: sched},
		subscription.ProductRemoved{SubscriptionID: sub, CustomerID: cus, ProductID: "beans", Name: "Espresso beans 1kg"},
		filtersDue("ord_1", day0, day(2026, 3, 16), sched, true),
		subscription.ChargeDue{
			SubscriptionID: sub, CustomerID: cus, InvoiceID: "inv_1", Cycle: 3, Amount: eur(2995), PlanName: "Coffee Club", PaymentMethodID: "pm_1",
			DueAt: utc(t0), CycleStartedAt: utc(t0), CycleEndsAt: utc(slot1), ChargeSlot: 3, NextChargeAt: utc(slot1),
			FinalCycle: true, EndsAt: utc(slot1), EndsOn: day(2026, 4, 2),
		},
		subscription.PaymentReceived{SubscriptionID: sub, CustomerID: cus, InvoiceID: "inv_1", PaymentID: "pay_1", Amount: eur(2995), PaidAt: utc(t0), TotalPaid: eur(2995)},
		subscription.RefundRecorded{SubscriptionID: sub, CustomerID: cus, InvoiceID: "inv_1", Amount: eur(995), RefundedAt: utc(t0), TotalPaid: eur(2000)},
		subscription.Activated{SubscriptionID: sub, CustomerID: cus, InvoiceID: "inv_1", ActivatedAt: utc(t0), ChargePosition: pos},
		subscription.Recovered{SubscriptionID: sub, CustomerID: cus, InvoiceID: "inv_1", RecoveredAt: utc(t0), Status: subscription.StatusCanceling, CancellationWithdrawn: true, ChargePosition: pos},
		subscription.MarkedPastDue{SubscriptionID: sub, CustomerID: cus, InvoiceID: "inv_1", MarkedAt: utc(t0), FinalAction: subscription.FinalActionNone},
		subscription.Paused{SubscriptionID: sub, CustomerID: cus, PausedAt: utc(t0)},
		subscription.Resumed{SubscriptionID: sub, CustomerID: cus, ResumedAt: utc(t0), ChargePosition: pos, Products: []subscription.ProductMove{{ProductID: "beans", NextShipmentOn: day0, Schedule: sched}}},
		subscription.CancelRequested{SubscriptionID: sub, CustomerID: cus, RequestedAt: utc(t0), EndsAt: utc(slot1), EndsOn: day(2026, 4, 2), Reason: "r", Cause: subscription.CauseRequested},
		subscription.Canceled{SubscriptionID: sub, CustomerID: cus, CanceledAt: utc(slot1), RequestedAt: utc(t0), AtPeriodEnd: true, Reason: "r", Cause: subscription.CauseNonPayment},
		subscription.TermCompleted{SubscriptionID: sub, CustomerID: cus, EndedAt: utc(slot1), Cycles: 12},
	}
}

func TestCodecRoundTripsEveryEvent(t *testing.T) {
	t.Parallel()
	names := map[string]bool{}
	for _, e := range oneOfEach() {
		requireRoundTrip(t, e)
		require.Regexp(t, `^subscription\.[a-z_]+$`, e.EventType())
		require.True(t, subscription.Codec.Knows(e.EventType()))
		names[e.EventType()] = true
	}
	require.Len(t, names, 18, "one example per event type")
}

func TestCodecStoredShape(t *testing.T) {
	t.Parallel()
	// The stored names are a contract with the log: changing one is a data
	// migration, so they are spelled out here.
	want := []string{
		"subscription.created", "subscription.product_added", "subscription.product_interval_changed",
		"subscription.next_shipment_set", "subscription.shipment_skipped", "subscription.product_removed",
		"subscription.shipment_due", "subscription.charge_due", "subscription.payment_received",
		"subscription.refund_recorded", "subscription.activated", "subscription.recovered",
		"subscription.marked_past_due", "subscription.paused", "subscription.resumed",
		"subscription.cancel_requested", "subscription.canceled", "subscription.term_completed",
	}
	var got []string
	for _, e := range oneOfEach() {
		got = append(got, e.EventType())
	}
	require.Equal(t, want, got)

	// An open-ended subscription's charge: snake_case fields, money as
	// minor units, absent optional instants left out.
	_, data, err := subscription.Codec.Encode(hCharged[1])
	require.NoError(t, err)
	var fields map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(data, &fields))
	require.JSONEq(t, `{"amount": 2995, "currency": "EUR"}`, string(fields["amount"]))
	require.JSONEq(t, `"2026-04-02T07:00:00Z"`, string(fields["next_charge_at"]))
	require.NotContains(t, fields, "ends_at")
	require.NotContains(t, fields, "final_cycle")

	_, data, err = subscription.Codec.Encode(created())
	require.NoError(t, err)
	require.JSONEq(t, `{
		"subscription_id": "sub_1", "customer_id": "cus_1",
		"plan": {"name": "Coffee Club", "price": {"amount": 2995, "currency": "EUR"}, "interval": {"unit": "month", "count": 1}},
		"delivery_method": "delivery", "payment_method_id": "pm_card_visa",
		"products": [
			{"product_id": "beans", "name": "Espresso beans 1kg", "quantity": 2, "interval": {"unit": "month", "count": 1},
			 "next_shipment_on": "2026-03-02", "schedule": {"anchor_on": "2026-03-02", "step": 0}},
			{"product_id": "filters", "name": "Paper filters", "quantity": 1, "interval": {"unit": "week", "count": 2},
			 "price": {"amount": 450, "currency": "EUR"},
			 "next_shipment_on": "2026-03-05", "schedule": {"anchor_on": "2026-03-05", "step": 0}}
		],
		"signed_up_at": "2026-03-02T08:00:00Z", "charge_anchor_at": "2026-03-02T08:00:00Z",
		"next_charge_at": "2026-03-02T08:00:00Z", "next_cycle": 1
	}`, string(data))

	_, err = subscription.Codec.Decode("subscription.exploded", []byte(`{}`))
	require.ErrorIs(t, err, domain.ErrUnknownEventType)
}
