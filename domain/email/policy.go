package email

import (
	"fmt"
	"time"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/order"
	"github.com/subsd/subsd/domain/settings"
	"github.com/subsd/subsd/domain/subscription"
)

// Cause is a business event of another aggregate, as the log holds it.
type Cause struct {
	// EventID is the event's id in the log; email ids are derived from it.
	EventID string
	// Event is a customer, order, subscription or invoice event.
	Event domain.Event
	// At is when the event was recorded; an email caused by it is planned
	// for then unless the table says otherwise.
	At time.Time
}

// PolicyInput is everything the policy decides from. The reactor that runs
// the policy builds it from the log, so that a replay decides the same.
type PolicyInput struct {
	Cause Cause
	// Customer is the customer the event concerns (CustomerOf says which),
	// folded from its stream. An erased customer gets no email.
	Customer customer.State
	// Subscription is, for a subscription event, the subscription's state
	// just before the event (its stream folded up to the version before
	// the event's): the charge whose reminder a pause or cancellation
	// withdraws is the one it was about to make. Zero for other events.
	Subscription subscription.State
	// Invoice is, for an invoice event, the invoice's state just before the
	// event, likewise: its number and amount, and whether it was paid.
	// Zero for other events.
	Invoice invoice.State
	// Settings are the email settings at the time of the event.
	Settings settings.Email
	// Location is the business time zone, in which a charge reminder goes
	// out ChargeReminderDaysBefore calendar days before the charge, at the
	// charge's local time of day. Required.
	Location *time.Location
	// LastPaymentFailedAt is when the customer's latest payment_failed email
	// was planned (zero: never); it throttles payment_failed emails.
	LastPaymentFailedAt time.Time
}

// PaymentFailedQuietPeriod is the least time between two payment_failed
// emails to one customer: a failing card is retried on several days and a
// customer with several subscriptions can fail several charges at once,
// yet one notice a week is enough.
const PaymentFailedQuietPeriod = 7 * 24 * time.Hour

// Policy returns the email commands (Plan, and Cancel for charge reminders
// of charges that no longer happen) that a business event causes. It is
// pure: the same input yields the same commands with the same email ids,
// so the history shows planned emails before they go out and a replay plans
// nothing twice (a repeated Plan or Cancel is a no-op).
//
// Email ids are IDFor(Cause.EventID, type), except charge reminders, whose
// id is ChargeReminderID(subscription, charge instant) so that the event
// that withdraws a charge can name its reminder.
//
//	event                                  email                       planned at / data
//	customer.return_label_requested        return_label                at once; label_id (the PDF to attach)
//	subscription.created                   subscription_confirmation   at once; plan name, price
//	subscription.activated                 charge_reminder             next charge − reminder days
//	subscription.charge_due                charge_reminder             for next_charge_at, while active
//	subscription.resumed / .recovered      charge_reminder             the moved next charge; the old one is canceled
//	subscription.paused / .marked_past_due Cancel charge_reminder      of the charge that was next
//	subscription.cancel_requested          cancellation_confirmation   at once; ends_at (+ Cancel reminder)
//	subscription.canceled (at once)        cancellation_confirmation   at once; ends_at = canceled_at (+ Cancel reminder)
//	subscription.canceled (at period end)  none: confirmed when it was requested
//	subscription.term_completed            Cancel charge_reminder      (a term's end is not a cancellation)
//	order.created                          order_confirmation          at once; order number, total
//	order.sent                             shipping_confirmation       at once; tracking code, url, carrier — only while track & trace is on
//	order.tracking_corrected               track_and_trace             at once; the corrected tracking — only while track & trace is on
//	order.picked_up                        pickup_confirmation         at once; picked_up_at
//	invoice.paid                           payment_receipt             at once; invoice number, amount paid
//	invoice.attempt_failed                 payment_failed              at once; number, amount due — while unpaid, ≤ 1 per customer per 7 days
//	invoice.refunded                       refund_issued               at once; number, amount refunded
//
// shipping_confirmation and track_and_trace: the order page's "Send shipping
// email" (POST /v1/orders/{id}/tracking on a to_be_sent order) records
// order.sent, and the customer is told the order has shipped, with its
// tracking link: shipping_confirmation. Sending a track & trace code again
// from the customer page's Track and trace section for an order already
// sent, with a new code, records order.tracking_corrected, and the customer
// gets the code on its own: track_and_trace. Both carry a tracking link, so
// both need the Email settings' track & trace feature, as the seed says;
// the order aggregate refuses tracking while it is off, and the policy
// checks again because the setting may have changed in between.
//
// A charge reminder goes out ChargeReminderDaysBefore days before the
// charge, at the charge's local time; when that moment has passed it goes
// out at once, and a charge that is not after the cause gets none (the
// first charge is made at sign-up). The first charge's ChargeDue names the
// second charge while the subscription is still pending, so its reminder is
// planned by subscription.activated instead: a subscription that never
// activates is never charged again.
//
// No email is planned for a customer who does not exist or whose personal
// data is erased: there is no address to write to.
func Policy(in PolicyInput) ([]Command, error) {
	if in.Location == nil {
		return nil, fmt.Errorf("email policy: no business time zone")
	}
	if in.Cause.EventID == "" {
		return nil, fmt.Errorf("email policy: the cause of %T has no event id", in.Cause.Event)
	}
	id, ok := CustomerOf(in.Cause.Event)
	if !ok {
		return nil, nil
	}
	if in.Customer.ID != id {
		return nil, fmt.Errorf("email policy: %s concerns customer %s, got customer %q", in.Cause.Event.EventType(), id, in.Customer.ID)
	}
	if in.Customer.Erased || in.Customer.Email == "" {
		return nil, nil
	}
	p := planner{in: in}
	switch e := in.Cause.Event.(type) {
	case customer.Event:
		p.customer(e)
	case subscription.Event:
		p.subscription(e)
	case order.Event:
		p.order(e)
	case invoice.Event:
		p.invoice(e)
	}
	return p.out, nil
}

// CustomerOf returns the customer an event concerns, and false for an event
// the policy plans nothing for (the reactor can skip it without loading
// anything).
func CustomerOf(e domain.Event) (domain.CustomerID, bool) {
	switch e := e.(type) {
	case customer.ReturnLabelRequested:
		return e.CustomerID, true
	case subscription.Created:
		return e.CustomerID, true
	case subscription.Activated:
		return e.CustomerID, true
	case subscription.ChargeDue:
		return e.CustomerID, true
	case subscription.Resumed:
		return e.CustomerID, true
	case subscription.Recovered:
		return e.CustomerID, true
	case subscription.Paused:
		return e.CustomerID, true
	case subscription.MarkedPastDue:
		return e.CustomerID, true
	case subscription.CancelRequested:
		return e.CustomerID, true
	case subscription.Canceled:
		return e.CustomerID, true
	case subscription.TermCompleted:
		return e.CustomerID, true
	case order.Created:
		return e.CustomerID, true
	case order.Sent:
		return e.CustomerID, true
	case order.TrackingCorrected:
		return e.CustomerID, true
	case order.PickedUp:
		return e.CustomerID, true
	}
	return invoiceCustomerOf(e)
}

type planner struct {
	in  PolicyInput
	out []Command
}

// plan adds the email of type t caused by the cause, going out at once.
func (p *planner) plan(t Type, reference, subject string, data Data) {
	p.planAt(IDFor(p.in.Cause.EventID, t), t, reference, subject, p.in.Cause.At, data)
}

func (p *planner) planAt(id domain.EmailID, t Type, reference, subject string, at time.Time, data Data) {
	data.FirstName = p.in.Customer.FirstName
	p.out = append(p.out, Plan{
		EmailID:    id,
		CustomerID: p.in.Customer.ID,
		Type:       t,
		Recipient:  p.in.Customer.Email,
		Subject:    subject,
		Reason:     Reason{EventID: p.in.Cause.EventID, EventType: p.in.Cause.Event.EventType(), Reference: reference},
		PlannedAt:  at.UTC(),
		Data:       data,
	})
}

func (p *planner) customer(e customer.Event) {
	if e, ok := e.(customer.ReturnLabelRequested); ok {
		p.plan(ReturnLabel, string(e.CustomerID), "Your return label", Data{LabelID: e.LabelID})
	}
}

func (p *planner) subscription(e subscription.Event) {
	before := p.in.Subscription
	switch e := e.(type) {
	case subscription.Created:
		price := e.Plan.Price
		p.plan(SubscriptionConfirmation, string(e.SubscriptionID), "Your "+e.Plan.Name+" subscription is confirmed",
			Data{SubscriptionID: e.SubscriptionID, PlanName: e.Plan.Name, Amount: &price})
	case subscription.Activated:
		// A pending subscription has no reminder to withdraw.
		p.remind(e.SubscriptionID, e.NextChargeAt)
	case subscription.ChargeDue:
		// The charge that was next is being made, so its reminder stands.
		if before.Status == subscription.StatusActive {
			p.remind(e.SubscriptionID, e.NextChargeAt)
		}
	case subscription.Resumed:
		p.moveReminder(e.SubscriptionID, e.NextChargeAt)
	case subscription.Recovered:
		p.moveReminder(e.SubscriptionID, e.NextChargeAt)
	case subscription.Paused:
		p.cancelReminder(e.SubscriptionID, "the subscription is paused")
	case subscription.MarkedPastDue:
		p.cancelReminder(e.SubscriptionID, "the subscription is past due")
	case subscription.TermCompleted:
		p.cancelReminder(e.SubscriptionID, "the subscription's term is complete")
	case subscription.CancelRequested:
		p.cancelReminder(e.SubscriptionID, "the subscription is canceling")
		p.plan(CancellationConfirmation, string(e.SubscriptionID), "Your subscription has been canceled",
			Data{SubscriptionID: e.SubscriptionID, PlanName: before.Plan.Name, EndsAt: e.EndsAt})
	case subscription.Canceled:
		p.cancelReminder(e.SubscriptionID, "the subscription is canceled")
		if !e.AtPeriodEnd {
			p.plan(CancellationConfirmation, string(e.SubscriptionID), "Your subscription has been canceled",
				Data{SubscriptionID: e.SubscriptionID, PlanName: before.Plan.Name, EndsAt: e.CanceledAt})
		}
	}
}

// moveReminder makes next the subscription's one reminded charge: the
// reminder of the charge that was next, if it is another, is canceled, and
// next (if any) gets one. A reminder canceled by a pause is planned again
// by the resume when the charge is back on (see Plan).
func (p *planner) moveReminder(sub domain.SubscriptionID, next time.Time) {
	if prev := p.in.Subscription.NextChargeAt; !prev.IsZero() && !prev.Equal(next) {
		p.cancelReminder(sub, "the charge moved")
	}
	p.remind(sub, next)
}

// remind plans the reminder of the charge at next, if there is one to come.
func (p *planner) remind(sub domain.SubscriptionID, next time.Time) {
	if next.IsZero() || !next.After(p.in.Cause.At) {
		return
	}
	price := p.in.Subscription.Plan.Price
	at := remindAt(next, p.in.Settings.ChargeReminderDaysBefore, p.in.Location)
	if at.Before(p.in.Cause.At) {
		at = p.in.Cause.At
	}
	var amount *domain.Money
	subject := "Your next payment is coming up"
	if price != (domain.Money{}) {
		amount = &price
		subject = "Your next payment of " + price.String() + " is coming up"
	}
	p.planAt(ChargeReminderID(sub, next), ChargeReminder, string(sub), subject, at,
		Data{SubscriptionID: sub, PlanName: p.in.Subscription.Plan.Name, Amount: amount, ChargeAt: next})
}

// cancelReminder withdraws the reminder of the charge that was next.
func (p *planner) cancelReminder(sub domain.SubscriptionID, why string) {
	if prev := p.in.Subscription.NextChargeAt; !prev.IsZero() {
		p.out = append(p.out, Cancel{EmailID: ChargeReminderID(sub, prev), Reason: why, At: p.in.Cause.At.UTC()})
	}
}

// remindAt is days calendar days before charge in loc, at the charge's
// local time of day.
func remindAt(charge time.Time, days int, loc *time.Location) time.Time {
	l := charge.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day()-days, l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), loc).UTC()
}

func (p *planner) order(e order.Event) {
	switch e := e.(type) {
	case order.Created:
		total := e.Total
		p.plan(OrderConfirmation, string(e.OrderID), "Your order "+string(e.Number)+" is confirmed",
			Data{OrderID: e.OrderID, OrderNumber: string(e.Number), SubscriptionID: e.SubscriptionID, Amount: &total})
	case order.Sent:
		if p.in.Settings.TrackAndTraceEnabled {
			p.plan(ShippingConfirmation, string(e.OrderID), "Your order "+string(e.Number)+" is on its way",
				Data{OrderID: e.OrderID, OrderNumber: string(e.Number), SubscriptionID: e.SubscriptionID,
					TrackingCode: e.TrackingCode, TrackingURL: e.TrackingURL, Carrier: e.Carrier})
		}
	case order.TrackingCorrected:
		if p.in.Settings.TrackAndTraceEnabled {
			p.plan(TrackAndTrace, string(e.OrderID), "Track and trace for your order "+string(e.Number),
				Data{OrderID: e.OrderID, OrderNumber: string(e.Number), SubscriptionID: e.SubscriptionID,
					TrackingCode: e.TrackingCode, TrackingURL: e.TrackingURL, Carrier: e.Carrier})
		}
	case order.PickedUp:
		p.plan(PickupConfirmation, string(e.OrderID), "You picked up your order "+string(e.Number),
			Data{OrderID: e.OrderID, OrderNumber: string(e.Number), SubscriptionID: e.SubscriptionID, PickedUpAt: e.PickedUpAt})
	}
}
