// Package command holds the application's use cases: what the HTTP API
// (and, from issue 5, the River workers and reactors) ask of the business.
// Each Service method loads the aggregates it needs, decides with their pure
// Decide, and appends with the loaded version as the expected version
// (eventstore.Execute: a bounded retry on a concurrency conflict, none and
// eventstore.ErrVersionMismatch with an If-Match version). It returns the
// resulting state, the stream version and the global position of what it
// appended, which the HTTP layer sends as X-Event-Position and waits for
// before it reads the projection back.
//
// # What each use case appends
//
//	CreateCustomer        customer.registered
//	UpdateCustomer        customer.details_changed (only the changed fields; nothing for no change)
//	RequestReturnLabel    customer.return_label_requested (label and email: issue 5's reactor and worker)
//	ErasePersonalData     destroys the customer's data key (eventstore/crypto), then customer.personal_data_erased
//	CreateSubscription    subscription.created + subscription.charge_due (first charge, due at sign-up),
//	                        in one append; then invoice.created for that charge
//	Cancel/Pause/Resume   subscription.canceled | cancel_requested, .paused, .resumed
//	AddProduct            subscription.product_added (first shipment today when none is given)
//	UpdateProduct         subscription.product_interval_changed and/or .next_shipment_set, in one append
//	ShipNow               subscription.shipment_due (ship_now); then order.created (and, for a product
//	                        with its own price, invoice.created + order.invoice_linked)
//	SkipShipment          subscription.shipment_skipped
//	RemoveProduct         subscription.product_removed
//	CreateOrder           order.created, invoice.created, order.invoice_linked (no invoice for a zero total)
//	AddTracking           order.sent | order.tracking_corrected (reads settings for track & trace)
//	ConfirmPickup         order.picked_up
//	PutEmailSettings      settings.email_changed
//	ChargeDue             subscription.charge_due + invoice.created (the charge scheduler's, issue 5)
//
// # Where orders and invoices are made, and where issue 5 takes over
//
// Every invoice is created, and numbered, by the use case that makes the
// charge due: a subscription's first charge at sign-up, a later cycle in
// ChargeDue, a one-off order in CreateOrder, a priced subscription
// shipment in CreateShipmentOrder. Taking the money is not done here: the
// payment reactor of issue 5 reacts to every invoice.created with a charge
// attempt (invoice.StartAttempt, Stripe). So a subscription created before
// issue 5 stays pending with an open invoice, and the customer page shows
// the charge from the moment it is due.
//
// A subscription's shipment orders are made by CreateShipmentOrder from the
// subscription.shipment_due event: ShipNow calls it at once (so the answer
// names the order); the shipping scheduler of issue 5 records scheduled
// shipments (order ids from ShipmentOrderID) and its reactor calls it for
// every shipment_due. Use cases that append to several streams are not
// atomic across them; every later step is idempotent and derived from the
// first step's event (ids derived with OrderInvoiceID, ChargeInvoiceID;
// numbers reserved per id), so a reactor repairs a crash in between:
// EnsureChargeInvoice for a charge_due without its invoice,
// CreateShipmentOrder for a shipment_due without its order, and
// EnsureOrderInvoice for an order.created that costs something without its
// invoice.
//
// # Numbers
//
// ORD-000123 and INV-<year>-000042 come from Numbers: a counter row per
// series and a reservation row per aggregate id, written by one statement,
// so the same id always gets the same number. A document is validated
// completely (Decide with a placeholder number) before its number is
// reserved, so bad input never burns a number; a number is lost only when
// the process dies between reserving it and appending the document and the
// step is never retried, which the reactors above make unlikely.
package command
