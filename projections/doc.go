// Package projections builds the dashboard's read models from the event log
// and serves them: one projection per page of API.md's "Dashboard pages",
// each a document per id, rendered when its events are applied, so that a
// GET is one primary-key select whose stored bytes are written to the
// client as they are.
//
//	projection          page                                 document id
//	customers_overview  GET /v1/customers (list items)       customer id
//	customer_detail     GET /v1/customers/{id}               customer id
//	order               GET /v1/orders/{id}                  order id
//	subscription        GET /v1/subscriptions/{id}           subscription id
//	invoice             GET /v1/invoices/{id}                invoice id
//	email_history       GET /v1/customers/{id}/emails        email id (listed by customer)
//	customer_streams    (none: history and as_of read by it)  stream name (listed by customer)
//
// Each projection's file documents its document's shape and the decisions
// taken where API.md is silent.
//
// # One Apply, three modes
//
// A Projection's Apply reads and writes named states through a Session and
// its Render turns a state into a Document. The Session is backed either by
// the eventrouter's transaction (live: the states an event touches are read,
// changed and written back with their documents in the transaction that
// moves the checkpoint, so the effects are exactly once), or by memory
// (rebuild: the whole log is applied to Go values, then every document is
// rendered once and bulk-written with COPY; and as_of: FoldCustomer folds one
// customer's history the same way). The same code in every mode is what
// makes a rebuild byte-identical to the live read model, which
// TestReplayEqualsLive checks over a long random history.
//
// # Storage, rebuild and versions
//
// A projection's tables live in a schema of its own, rm_<name> (schema.go):
// documents (the rendered pages) and states. Rebuild fills rm_<name>_next
// from the log and swaps it in, in one transaction that also aligns the
// projection's checkpoint, so readers see the old read model or the new
// one, never a half-built one, and the live consumer may keep running
// throughout. A projection's Version is its read model's shape: Ensure, run
// on start, rebuilds every projection whose stored version (the
// projection_registry table, this package's migration) differs, which is
// how read models migrate.
//
// # Reading
//
// Reader serves the pages (Customer, Customers, CustomerEmails, Order,
// Subscription, Invoice), read-your-writes (WaitFor: every projection's
// checkpoint has reached a write's position, woken by the NOTIFY each
// projection sends from its apply transaction), and GET /v1/projections
// (Statuses). The two values of a page that events cannot fix when they are
// written, subscribed_days (it grows daily) and track_and_trace.enabled (a
// global setting), are holes the Reader fills at read time (patch.go).
//
// # Wiring (cmd/subsd)
//
//	projections.Ensure(ctx, pool, store)      // on start, after the store's and eventrouter's migrations
//	projections.Register(router)              // every projection as an eventrouter consumer; then router.Run
//	reader := projections.NewReader(pool, projections.WithStore(store),
//		projections.WithClock(now), projections.WithLocation(businessZone))
//	defer reader.Close()
//	projections.Rebuild(ctx, pool, store, name) // POST /v1/projections/{name}/rebuild, subsd replay --projection
//	projections.RebuildAll(ctx, pool, store)    // subsd replay
package projections
