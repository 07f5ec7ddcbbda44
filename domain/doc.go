// Package domain holds the business of subscription commerce as pure code:
// value objects (Money, Address, Interval, Date, ids), calendar and VAT
// arithmetic, and, in its sub-packages, one aggregate each (customer,
// subscription, order, invoice, email, settings).
//
// Nothing here does I/O, reads a clock or randomness, or logs: time and ids
// arrive in commands. An aggregate is a pair of pure functions,
//
//	Decide(state, command) ([]Event, error)
//	Evolve(state, event) state
//
// and its state is always the fold of Evolve over its history; there is no
// other constructor. Every invariant of API.md's "Behaviour" section is
// enforced by a Decide and reported as an *Error sentinel the HTTP layer maps
// to a status in one place.
//
// # Seed sections → commands and events
//
// Every section of both product documents in shared/seeds, and the command
// (package.Command) and events ("stored.name") that serve it. Reactors and
// projections connect the aggregates: an event of one is the reason for a
// command of another (→). The email history of every row that sends an email
// is served by email.Policy → email.Plan → "email.planned", then the mail
// worker's email.MarkSent → "email.sent" or email.MarkFailed → "email.failed".
//
// Customer detail page ("Viewing Customer Details"):
//
//	section                                   commands → events
//	Subscription details: status, signed up,  subscription.Create → "subscription.created" (signed_up_at, pending);
//	  activated, subscribed days, total paid,   invoice "invoice.paid" → subscription.RecordPayment → "subscription.payment_received"
//	  cancellation timestamps                   (total_paid), "subscription.activated" (activated_at); "invoice.refunded" →
//	                                            subscription.RecordRefund → "subscription.refund_recorded"; subscription.Pause /
//	                                            Resume → "subscription.paused" / "subscription.resumed"; invoice
//	                                            "invoice.retries_exhausted" → subscription.MarkPastDue → "subscription.marked_past_due",
//	                                            "subscription.recovered"; subscription.Cancel → "subscription.cancel_requested"
//	                                            (cancel_requested_at, ends_at) or "subscription.canceled"; CompleteCancellation →
//	                                            "subscription.canceled" / "subscription.term_completed" (canceled_at);
//	                                            subscribed_days is subscription.State.SubscribedDays (read time)
//	Customer details (name, email, phone,     customer.Register → "customer.registered"; Edit: customer.ChangeDetails →
//	  street, zipcode, city, country) + Edit    "customer.details_changed" (only the changed fields; nothing when
//	                                            nothing changed); customer.ErasePersonalData → "customer.personal_data_erased"
//	Track and trace: send a code (only once   settings.ChangeEmailSettings → "settings.email_changed" (track_and_trace_enabled);
//	  activated in the Email configuration),    order.AddTracking{TrackAndTraceEnabled} → "order.sent" (first code) or
//	  the code and when it was sent, and the    "order.tracking_corrected" (a new code), order.ErrTrackAndTraceDisabled while
//	  T&T code per order in the Orders list     off → email.Policy: shipping_confirmation / track_and_trace emails
//	Return label: "Send return label"         customer.RequestReturnLabel → "customer.return_label_requested" → email.Policy:
//	                                            return_label email (label_id names the PDF the worker attaches); sent_at
//	                                            and email_id from "email.sent" (email_id = email.IDFor(event id, return_label))
//	Payment history: date, amount, status     subscription.RecordChargeDue → "subscription.charge_due" (the charge, planned) →
//	  (planned, pending, paid, failed,          invoice.Create → "invoice.created"; invoice.StartAttempt → "invoice.attempt_started";
//	  refunded), invoice reference              RecordAttemptProcessing → "invoice.attempt_processing" (pending, the intent id);
//	                                            RecordAttemptSucceeded → "invoice.attempt_succeeded" + "invoice.paid";
//	                                            RecordAttemptFailed → "invoice.attempt_failed"; invoice.Refund → "invoice.refunded"
//	Invoices: number, customer name, created, invoice.Create → "invoice.created"; RecordAttemptFailed → "invoice.attempt_failed" +
//	  amount, status, retries, retry pending    "invoice.retry_scheduled" | "invoice.retries_exhausted" (retry days from
//	                                            settings.ChangeDunning → "settings.dunning_changed"); retry now:
//	                                            invoice.StartAttempt; invoice.Void → "invoice.voided"
//	Active products: Set next shipment        subscription.SetNextShipment → "subscription.next_shipment_set"
//	  Ship now                                  subscription.ShipNow → "subscription.shipment_due" (ship_now) → order.Create →
//	                                            "order.created" → order_confirmation email
//	  Interval                                  subscription.ChangeProductInterval → "subscription.product_interval_changed"
//	  Remove                                    subscription.RemoveProduct → "subscription.product_removed"
//	  (and: add, skip, the scheduled            subscription.AddProduct → "subscription.product_added"; SkipShipment →
//	  shipment)                                 "subscription.shipment_skipped"; RecordShipmentDue → "subscription.shipment_due"
//	Email history: planned and sent emails    email.Policy (the table in its doc) → email.Plan → "email.planned"; email.MarkSent →
//	  (confirmations, track and trace,          "email.sent"; email.MarkFailed → "email.failed"; email.Cancel → "email.canceled"
//	  charge reminders, order confirmations,    (a withdrawn charge reminder); reminder days: settings.ChangeEmailSettings →
//	  failed payments), full history            "settings.email_changed"
//
// Order page ("Manage the orders and subscriptions of my clients"):
//
//	Invoice: Customer Invoice (PDF)           invoice "invoice.created" (lines, VAT, addresses) → GET /v1/invoices/{id}/pdf;
//	                                            order.LinkInvoice → "order.invoice_linked" ties it to the order
//	  Stripe Dashboard                          the payment intent of the latest attempt: "invoice.attempt_processing" /
//	                                            "invoice.attempt_succeeded" / "invoice.attempt_failed" (payment_intent_id)
//	  Refund via Stripe                         invoice.Refund → "invoice.refunded" (→ subscription.RecordRefund, refund_issued email)
//	Details: billing and shipping             order.Create → "order.created" (billing_address, shipping_address); invoice
//	  information                               "invoice.created" prints the same
//	Order Summary: cart, delivery method,     order.Create → "order.created" (items, delivery_method, subtotal, discount, total,
//	  subtotal, discount, total, VAT            vat_rate_bp, vat), priced by domain.PriceLines
//	Confirm shipping: To be sent → Send       order.AddTracking → "order.sent" (tracking code, URL, carrier, sent_at) →
//	  shipping email; Sent → View parcel        shipping_confirmation email with the tracking link; a new link for a sent
//	  tracking link                             order: "order.tracking_corrected" → track_and_trace email
//	Confirm pickup: To be picked up →         order.ConfirmPickup → "order.picked_up" (picked_up_at: date and time) →
//	  Confirm order pickup; Picked up           pickup_confirmation email
//	(an order that will not ship)             order.Cancel → "order.canceled"
//
// Subscription page (same document, "Manage my customers' subscriptions"):
//
//	Title: first and last name, plan name,    "customer.registered" / "customer.details_changed" (names); subscription.Create →
//	  amount per charge, cycle, duration        "subscription.created" (plan name, price, interval, term_cycles)
//	Stripe Dashboard (customer record)        customer.LinkStripeCustomer → "customer.stripe_customer_linked"
//	Subscription Cycle: start, end, next      "subscription.charge_due" (cycle_started_at, cycle_ends_at, next_charge_at);
//	  charge                                    "subscription.activated" / "subscription.resumed" / "subscription.recovered"
//	                                            (charge position); "subscription.cancel_requested" / "subscription.term_completed"
//	                                            (the end); charge_reminder email before each charge
//	Subscription Details: billing, shipping,  "customer.registered" / "customer.details_changed" (address, shipping_address);
//	  payment method                            "subscription.created" (payment_method_id)
//	Upcoming Charge                           subscription.State (NextChargeAt, Plan.Price); then subscription.RecordChargeDue →
//	                                            "subscription.charge_due" → invoice.Create
//	Invoices (PDF per recurring charge)       "invoice.created" with subscription_id and cycle → GET /v1/invoices/{id}/pdf
//
// Not served by an event yet: the payment method's brand, last4 and expiry
// (API.md's payment_method) are recorded by no aggregate; only the Stripe
// payment method id is.
package domain
