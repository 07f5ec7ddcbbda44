package email_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/email"
	"github.com/subsd/subsd/domain/order"
	"github.com/subsd/subsd/domain/settings"
	"github.com/subsd/subsd/domain/subscription"
)

const (
	cus = domain.CustomerID("cus_ann")
	sub = domain.SubscriptionID("sub_1")
	ord = domain.OrderID("ord_1")
)

var (
	ams = mustZone("Europe/Amsterdam")
	// now is the time of the causing events: 1 March 2026, 10:00 in Amsterdam.
	now = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	// charge is the next charge: 30 March 2026, 09:00 CEST, the day after
	// the clocks went forward.
	charge = time.Date(2026, 3, 30, 7, 0, 0, 0, time.UTC)
	plan   = subscription.Plan{Name: "Coffee Club", Price: domain.Cents(2495), Interval: domain.Interval{Unit: domain.Month, Count: 1}}
	ann    = customer.Fold(customer.Registered{
		CustomerID: cus, FirstName: "Ann", LastName: "de Vries", Email: "ann@example.com",
		Address: domain.Address{Street: "Keizersgracht 1", Zipcode: "1015 CJ", City: "Amsterdam", Country: "NL"}, RegisteredAt: now,
	})
	defaults = settings.DefaultEmail()
	tntOn    = settings.Email{TrackAndTraceEnabled: true, ChargeReminderDaysBefore: 3}
)

func mustZone(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// subscriptionBefore folds a subscription history: the state a policy input
// carries for the event that follows it.
func subscriptionBefore(events ...subscription.Event) subscription.State {
	return subscription.Fold(events...)
}

func created() subscription.Created {
	return subscription.Created{
		SubscriptionID: sub, CustomerID: cus, Plan: plan, DeliveryMethod: subscription.Delivery,
		SignedUpAt: now.Add(-29 * 24 * time.Hour), ChargeAnchorAt: now.Add(-29 * 24 * time.Hour), NextChargeAt: now.Add(-29 * 24 * time.Hour), NextCycle: 1,
	}
}

func active() subscription.State {
	return subscriptionBefore(created(), subscription.Activated{SubscriptionID: sub, CustomerID: cus, ActivatedAt: now.Add(-29 * 24 * time.Hour),
		ChargePosition: subscription.ChargePosition{ChargeSlot: 1, NextChargeAt: charge}})
}

func input(e domain.Event, mods ...func(*email.PolicyInput)) email.PolicyInput {
	in := email.PolicyInput{
		Cause:    email.Cause{EventID: "evt_9", Event: e, At: now},
		Customer: ann, Settings: defaults, Location: ams,
	}
	for _, m := range mods {
		m(&in)
	}
	return in
}

func withSubscription(s subscription.State) func(*email.PolicyInput) {
	return func(in *email.PolicyInput) { in.Subscription = s }
}

func withSettings(s settings.Email) func(*email.PolicyInput) {
	return func(in *email.PolicyInput) { in.Settings = s }
}

// planOf is the Plan the policy makes for the cause "evt_9" at now.
func planOf(t email.Type, eventType, ref, subject string, data email.Data) email.Plan {
	data.FirstName = "Ann"
	return email.Plan{
		EmailID: email.IDFor("evt_9", t), CustomerID: cus, Type: t, Recipient: "ann@example.com", Subject: subject,
		Reason:    email.Reason{EventID: "evt_9", EventType: eventType, Reference: ref},
		PlannedAt: now, Data: data,
	}
}

func reminder(eventType string, chargeAt, at time.Time) email.Plan {
	p := planOf(email.ChargeReminder, eventType, string(sub), "Your next payment of 24.95 EUR is coming up",
		email.Data{SubscriptionID: sub, PlanName: "Coffee Club", Amount: ptr(domain.Cents(2495)), ChargeAt: chargeAt})
	p.EmailID = email.ChargeReminderID(sub, chargeAt)
	p.PlannedAt = at
	return p
}

func cancelReminder(chargeAt time.Time, why string) email.Cancel {
	return email.Cancel{EmailID: email.ChargeReminderID(sub, chargeAt), Reason: why, At: now}
}

func TestPolicy(t *testing.T) {
	t.Parallel()
	// 30 March 09:00 CEST minus 3 days is 27 March 09:00 CET: 08:00 UTC.
	threeDaysBefore := time.Date(2026, 3, 27, 8, 0, 0, 0, time.UTC)
	later := charge.AddDate(0, 1, 0)
	paused := subscriptionBefore(created(), subscription.Activated{SubscriptionID: sub, CustomerID: cus, ActivatedAt: now,
		ChargePosition: subscription.ChargePosition{ChargeSlot: 1, NextChargeAt: charge}}, subscription.Paused{SubscriptionID: sub, CustomerID: cus, PausedAt: now})
	pending := subscriptionBefore(created())
	canceling := subscriptionBefore(created(), subscription.CancelRequested{SubscriptionID: sub, CustomerID: cus, RequestedAt: now, EndsAt: charge})

	tests := []struct {
		name string
		in   email.PolicyInput
		want []email.Command
	}{
		{
			name: "return label requested",
			in:   input(customer.ReturnLabelRequested{CustomerID: cus, LabelID: "rl_1", RequestedAt: now}),
			want: []email.Command{planOf(email.ReturnLabel, "customer.return_label_requested", string(cus), "Your return label", email.Data{LabelID: "rl_1"})},
		},
		{name: "a registration plans nothing", in: input(customer.Registered{CustomerID: cus}), want: nil},
		{
			name: "subscription created",
			in:   input(created()),
			want: []email.Command{planOf(email.SubscriptionConfirmation, "subscription.created", string(sub), "Your Coffee Club subscription is confirmed",
				email.Data{SubscriptionID: sub, PlanName: "Coffee Club", Amount: ptr(domain.Cents(2495))})},
		},
		{
			name: "activation reminds of the next charge, days before at its local time across DST",
			in: input(subscription.Activated{SubscriptionID: sub, CustomerID: cus, ActivatedAt: now,
				ChargePosition: subscription.ChargePosition{ChargeSlot: 1, NextChargeAt: charge}}, withSubscription(pending)),
			want: []email.Command{reminder("subscription.activated", charge, threeDaysBefore)},
		},
		{
			name: "a charge of an active subscription reminds of the next one",
			in: input(subscription.ChargeDue{SubscriptionID: sub, CustomerID: cus, Cycle: 2, Amount: domain.Cents(2495), DueAt: charge, NextChargeAt: later},
				withSubscription(active())),
			want: []email.Command{reminder("subscription.charge_due", later, time.Date(2026, 4, 27, 7, 0, 0, 0, time.UTC))},
		},
		{
			name: "reminder days from the settings; 0 is the charge's own time",
			in: input(subscription.ChargeDue{SubscriptionID: sub, CustomerID: cus, Cycle: 2, DueAt: charge, NextChargeAt: later},
				withSubscription(active()), withSettings(settings.Email{ChargeReminderDaysBefore: 0})),
			want: []email.Command{reminder("subscription.charge_due", later, later)},
		},
		{
			name: "a reminder whose day has passed goes out at once",
			in: input(subscription.Activated{SubscriptionID: sub, CustomerID: cus, ActivatedAt: now,
				ChargePosition: subscription.ChargePosition{ChargeSlot: 1, NextChargeAt: now.Add(24 * time.Hour)}}, withSubscription(pending)),
			want: []email.Command{reminder("subscription.activated", now.Add(24*time.Hour), now)},
		},
		{
			name: "the first charge's charge_due names the second charge while pending: no reminder yet",
			in:   input(subscription.ChargeDue{SubscriptionID: sub, CustomerID: cus, Cycle: 1, DueAt: now, NextChargeAt: charge}, withSubscription(pending)),
			want: nil,
		},
		{
			name: "the last cycle of a term has no next charge",
			in: input(subscription.ChargeDue{SubscriptionID: sub, CustomerID: cus, Cycle: 12, DueAt: charge, FinalCycle: true, EndsAt: later},
				withSubscription(active())),
			want: nil,
		},
		{
			name: "a pause withdraws the reminder of the next charge",
			in:   input(subscription.Paused{SubscriptionID: sub, CustomerID: cus, PausedAt: now}, withSubscription(active())),
			want: []email.Command{cancelReminder(charge, "the subscription is paused")},
		},
		{
			name: "a resume that moves the charge withdraws the old reminder and plans the new",
			in: input(subscription.Resumed{SubscriptionID: sub, CustomerID: cus, ResumedAt: now,
				ChargePosition: subscription.ChargePosition{ChargeSlot: 2, NextChargeAt: later}}, withSubscription(paused)),
			want: []email.Command{
				cancelReminder(charge, "the charge moved"),
				reminder("subscription.resumed", later, time.Date(2026, 4, 27, 7, 0, 0, 0, time.UTC)),
			},
		},
		{
			name: "a resume before the charge plans its reminder again",
			in: input(subscription.Resumed{SubscriptionID: sub, CustomerID: cus, ResumedAt: now,
				ChargePosition: subscription.ChargePosition{ChargeSlot: 1, NextChargeAt: charge}}, withSubscription(paused)),
			want: []email.Command{reminder("subscription.resumed", charge, threeDaysBefore)},
		},
		{
			name: "recovery from past due plans the next reminder",
			in: input(subscription.Recovered{SubscriptionID: sub, CustomerID: cus, RecoveredAt: now, Status: subscription.StatusActive,
				ChargePosition: subscription.ChargePosition{ChargeSlot: 2, NextChargeAt: later}},
				withSubscription(subscriptionBefore(created(), subscription.MarkedPastDue{SubscriptionID: sub, CustomerID: cus, MarkedAt: now}))),
			want: []email.Command{
				cancelReminder(now.Add(-29*24*time.Hour), "the charge moved"),
				reminder("subscription.recovered", later, time.Date(2026, 4, 27, 7, 0, 0, 0, time.UTC)),
			},
		},
		{
			name: "past due withdraws the reminder",
			in:   input(subscription.MarkedPastDue{SubscriptionID: sub, CustomerID: cus, MarkedAt: now}, withSubscription(active())),
			want: []email.Command{cancelReminder(charge, "the subscription is past due")},
		},
		{
			name: "a term completed withdraws any reminder",
			in:   input(subscription.TermCompleted{SubscriptionID: sub, CustomerID: cus, EndedAt: now, Cycles: 12}, withSubscription(active())),
			want: []email.Command{cancelReminder(charge, "the subscription's term is complete")},
		},
		{
			name: "cancel at period end: confirmation, reminder withdrawn",
			in: input(subscription.CancelRequested{SubscriptionID: sub, CustomerID: cus, RequestedAt: now, EndsAt: charge, Cause: subscription.CauseRequested},
				withSubscription(active())),
			want: []email.Command{
				cancelReminder(charge, "the subscription is canceling"),
				planOf(email.CancellationConfirmation, "subscription.cancel_requested", string(sub), "Your subscription has been canceled",
					email.Data{SubscriptionID: sub, PlanName: "Coffee Club", EndsAt: charge}),
			},
		},
		{
			name: "cancel now: confirmation, reminder withdrawn",
			in:   input(subscription.Canceled{SubscriptionID: sub, CustomerID: cus, CanceledAt: now, RequestedAt: now}, withSubscription(active())),
			want: []email.Command{
				cancelReminder(charge, "the subscription is canceled"),
				planOf(email.CancellationConfirmation, "subscription.canceled", string(sub), "Your subscription has been canceled",
					email.Data{SubscriptionID: sub, PlanName: "Coffee Club", EndsAt: now}),
			},
		},
		{
			name: "the end of a canceling period was confirmed when it was requested",
			in:   input(subscription.Canceled{SubscriptionID: sub, CustomerID: cus, CanceledAt: now, AtPeriodEnd: true}, withSubscription(canceling)),
			want: nil,
		},
		{
			name: "order created",
			in:   input(order.Created{OrderID: ord, Number: "ORD-000123", CustomerID: cus, SubscriptionID: sub, Total: domain.Cents(1999)}),
			want: []email.Command{planOf(email.OrderConfirmation, "order.created", string(ord), "Your order ORD-000123 is confirmed",
				email.Data{OrderID: ord, OrderNumber: "ORD-000123", SubscriptionID: sub, Amount: ptr(domain.Cents(1999))})},
		},
		{
			name: "order sent with tracking, track & trace on",
			in: input(order.Sent{OrderID: ord, Number: "ORD-000123", CustomerID: cus, TrackingCode: "3SABC", TrackingURL: "https://t.example/3SABC", Carrier: "PostNL", SentAt: now},
				withSettings(tntOn)),
			want: []email.Command{planOf(email.ShippingConfirmation, "order.sent", string(ord), "Your order ORD-000123 is on its way",
				email.Data{OrderID: ord, OrderNumber: "ORD-000123", TrackingCode: "3SABC", TrackingURL: "https://t.example/3SABC", Carrier: "PostNL"})},
		},
		{
			name: "order sent while track & trace is off: no tracking email",
			in:   input(order.Sent{OrderID: ord, Number: "ORD-000123", CustomerID: cus, TrackingCode: "3SABC", TrackingURL: "https://t.example/3SABC", SentAt: now}),
			want: nil,
		},
		{
			name: "tracking sent again with a new code",
			in: input(order.TrackingCorrected{OrderID: ord, Number: "ORD-000123", CustomerID: cus, TrackingCode: "3SXYZ", TrackingURL: "https://t.example/3SXYZ", CorrectedAt: now},
				withSettings(tntOn)),
			want: []email.Command{planOf(email.TrackAndTrace, "order.tracking_corrected", string(ord), "Track and trace for your order ORD-000123",
				email.Data{OrderID: ord, OrderNumber: "ORD-000123", TrackingCode: "3SXYZ", TrackingURL: "https://t.example/3SXYZ"})},
		},
		{
			name: "tracking sent again while track & trace is off",
			in:   input(order.TrackingCorrected{OrderID: ord, Number: "ORD-000123", CustomerID: cus, TrackingCode: "3SXYZ", CorrectedAt: now}),
			want: nil,
		},
		{
			name: "order picked up",
			in:   input(order.PickedUp{OrderID: ord, Number: "ORD-000123", CustomerID: cus, PickedUpAt: now}),
			want: []email.Command{planOf(email.PickupConfirmation, "order.picked_up", string(ord), "You picked up your order ORD-000123",
				email.Data{OrderID: ord, OrderNumber: "ORD-000123", PickedUpAt: now})},
		},
		{name: "an order canceled plans nothing", in: input(order.Canceled{OrderID: ord, CustomerID: cus, CanceledAt: now}), want: nil},
		{
			name: "an erased customer gets nothing",
			in: input(order.Created{OrderID: ord, Number: "ORD-000123", CustomerID: cus, Total: domain.Cents(1)},
				func(in *email.PolicyInput) {
					in.Customer = customer.Evolve(ann, customer.PersonalDataErased{CustomerID: cus, Actor: "admin", ErasedAt: now})
				}),
			want: nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := email.Policy(tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)

			again, err := email.Policy(tt.in)
			require.NoError(t, err)
			require.Equal(t, got, again, "a replay decides the same")

			// Every command the policy issues is one the email aggregate
			// accepts: plans on a new stream, cancels on a planned one.
			for _, c := range got {
				switch c := c.(type) {
				case email.Plan:
					events, err := email.Decide(email.State{}, c)
					require.NoError(t, err)
					require.Len(t, events, 1)
				case email.Cancel:
					p := reminder("x", charge, now)
					p.EmailID = c.EmailID
					events, err := email.Decide(email.Fold(email.Planned{EmailID: c.EmailID, CustomerID: cus, Type: email.ChargeReminder, Recipient: "a@b.nl", Subject: "s", Reason: email.Reason{EventID: "e"}, PlannedAt: now}), c)
					require.NoError(t, err)
					require.Len(t, events, 1)
				}
			}
		})
	}
}

// TestPolicyReminderLifecycle runs the commands the policy issues for a
// pause and a resume through the email aggregate: the reminder canceled by
// the pause is planned again by the resume.
func TestPolicyReminderLifecycle(t *testing.T) {
	t.Parallel()
	var history []email.Event
	apply := func(cmds []email.Command) {
		for _, c := range cmds {
			events, err := email.Decide(email.Fold(history...), c)
			require.NoError(t, err)
			history = append(history, events...)
		}
	}
	before := active()
	cmds, err := email.Policy(email.PolicyInput{
		Cause:    email.Cause{EventID: "evt_charge", Event: subscription.ChargeDue{SubscriptionID: sub, CustomerID: cus, Cycle: 1, NextChargeAt: charge}, At: now},
		Customer: ann, Subscription: before, Settings: defaults, Location: ams,
	})
	require.NoError(t, err)
	apply(cmds)
	require.Equal(t, email.StatusPlanned, email.Fold(history...).Status)

	pause := subscription.Paused{SubscriptionID: sub, CustomerID: cus, PausedAt: now}
	cmds, err = email.Policy(email.PolicyInput{Cause: email.Cause{EventID: "evt_pause", Event: pause, At: now}, Customer: ann, Subscription: before, Settings: defaults, Location: ams})
	require.NoError(t, err)
	apply(cmds)
	require.Equal(t, email.StatusCanceled, email.Fold(history...).Status)

	resume := subscription.Resumed{SubscriptionID: sub, CustomerID: cus, ResumedAt: now.Add(time.Hour),
		ChargePosition: subscription.ChargePosition{ChargeSlot: 1, NextChargeAt: charge}}
	cmds, err = email.Policy(email.PolicyInput{Cause: email.Cause{EventID: "evt_resume", Event: resume, At: now.Add(time.Hour)},
		Customer: ann, Subscription: subscription.Evolve(before, pause), Settings: defaults, Location: ams})
	require.NoError(t, err)
	apply(cmds)
	s := email.Fold(history...)
	require.Equal(t, email.StatusPlanned, s.Status)
	require.Equal(t, "evt_resume", s.Reason.EventID)
	require.Equal(t, charge, s.Data.ChargeAt)
}

func TestPolicyRefusesBadInput(t *testing.T) {
	t.Parallel()
	e := order.Created{OrderID: ord, Number: "ORD-000123", CustomerID: cus, Total: domain.Cents(1)}
	_, err := email.Policy(input(e, func(in *email.PolicyInput) { in.Location = nil }))
	require.Error(t, err)
	_, err = email.Policy(input(e, func(in *email.PolicyInput) { in.Cause.EventID = "" }))
	require.Error(t, err)
	_, err = email.Policy(input(e, func(in *email.PolicyInput) { in.Customer = customer.State{} }))
	require.Error(t, err, "the customer the event concerns must be given")
}

func TestCustomerOf(t *testing.T) {
	t.Parallel()
	id, ok := email.CustomerOf(order.PickedUp{CustomerID: cus})
	require.True(t, ok)
	require.Equal(t, cus, id)
	_, ok = email.CustomerOf(order.InvoiceLinked{CustomerID: cus})
	require.False(t, ok, "an event that plans nothing")
	_, ok = email.CustomerOf(customer.Registered{CustomerID: cus})
	require.False(t, ok)
}
