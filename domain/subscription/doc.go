// Package subscription is the subscription aggregate: a customer's plan,
// charged every plan interval, and the products that ship on their own
// intervals while it runs.
//
// # Lifecycle
//
//	Create ─► pending ─(first charge paid)─► active ◄─► paused
//	                                           │ ▲
//	              (last dunning retry fails)   ▼ │ (that invoice paid)
//	                                         past_due
//	active ─(cancel at period end)─► canceling ─(CompleteCancellation)─► canceled
//	any ─(cancel now)─► canceled; active with its term run out ─(CompleteCancellation)─► canceled
//
// # Charges
//
// The charge schedule is anchored on the sign-up instant: slot n is
// domain.NthInstant(anchor, zone, plan interval, n), so a charge signed up
// for at 09:00 in Amsterdam stays at 09:00 local across DST, and one signed
// up on the 31st is charged on the last day of shorter months and on the
// 31st again where there is one. Slot 0 is the first charge, due at
// creation. RecordChargeDue records one charge (a cycle) per slot: the cycle
// runs from its slot to the next one, which is the next charge, except after
// the last cycle of a term (TermCycles), when there is no next charge and the
// subscription ends where the cycle does. A late scheduler catches up one
// cycle per RecordChargeDue: every cycle the customer was active for is owed.
//
// # Shipments
//
// Each product has its own schedule: an anchor date and a step, so that
// next_shipment_on is domain.Nth(anchor, interval, step) and a product
// anchored on the 31st returns to the 31st. RecordShipmentDue (the
// scheduler) and ShipNow record that an order is due; SkipShipment moves one
// step on without an order. Setting the next shipment date re-anchors the
// schedule on that date; ShipNow re-anchors it on today (step 1 is the next
// shipment, one interval from today); changing the interval re-anchors it on
// the current next shipment date, which stays, and later dates follow the new
// interval. When the scheduler is late, a due shipment makes one order and
// the next date is the first schedule date after today: missed dates are not
// shipped as a burst of orders.
//
// # What ships and what charges
//
// Only an active subscription is charged (and a pending one, once: its first
// charge, whose payment activates it). Only an active subscription ships,
// as API.md says: a shipment due on or after the day the subscription ends
// (EndsOn) does not. Pending, paused and past_due subscriptions ship nothing
// (ErrSubscriptionNotActive); canceling and canceled ones nothing at all
// (ErrSubscriptionCanceled): a customer who asked to stop gets nothing more. The same end-day rule holds for an active
// subscription whose term has run out.
//
// # Pause and resume
//
// A pause stops charges and shipments; it moves nothing. Resume recomputes
// nothing in the past: a next charge that fell in the pause moves to the first
// slot of the charge schedule on or after the resume instant (the current
// cycle is extended to it, so the customer is not charged for paused time),
// and each product whose next shipment fell in the pause moves to the first
// date of its own schedule on or after the resume day. Anchors are kept, so
// the 31st stays the 31st.
//
// # Past due
//
// MarkPastDue (the invoice aggregate's last retry failed) makes the
// subscription past_due and applies the configured final action, which the
// event records: cancel at the end of the current cycle (the default; the
// status stays past_due, so nothing ships for the unpaid cycle, and
// ends_at/cancel_requested_at show the scheduled end), cancel now, or none
// (stay past_due). When that invoice is paid after all, the subscription
// recovers: it becomes active again (or canceling, if the customer had
// asked to cancel), a cancellation that was scheduled only because of the
// missed payment is withdrawn, and a next charge that fell while it was
// past due moves on as after a pause.
//
// # Term
//
// A subscription with TermCycles is charged that many cycles. The last
// RecordChargeDue records no next charge and sets EndsAt to the end of that
// cycle; at EndsAt the scheduler sends CompleteCancellation, which records
// subscription.term_completed and the status becomes canceled (the status set
// has no "ended"). A pause or recovery moves that end as it moves a next
// charge.
package subscription
