package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/subsd/subsd/command"
	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/email"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/order"
	"github.com/subsd/subsd/domain/subscription"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/eventrouter"
	"github.com/subsd/subsd/workers/internal/dbsqlc"
)

// The reactors' consumer names: their checkpoint rows. Renaming one makes
// it start again from the beginning of the log (which is safe, every
// effect being idempotent, but slow).
const (
	// ReactorPayments charges every new invoice, and records on the
	// subscription what its invoices' payments did.
	ReactorPayments = "reactor_payments"
	// ReactorEmails runs the email policy over every business event.
	ReactorEmails = "reactor_emails"
	// ReactorShipments makes the order of every scheduled shipment.
	ReactorShipments = "reactor_shipments"
	// ReactorDueWork keeps the due_work table: what falls due when.
	ReactorDueWork = "reactor_due_work"
)

// ReactorNames lists the reactors' consumer names (for the test clock,
// which waits for them, and for operators).
func ReactorNames() []string {
	return []string{ReactorPayments, ReactorEmails, ReactorShipments, ReactorDueWork}
}

// Reactors are the process managers: eventrouter consumers that turn events
// into River jobs (InsertTx in the transaction of their checkpoint, so an
// event yields its jobs exactly once) or into commands on other aggregates
// (appended with an idempotency key derived from the causing event's id, so
// a redelivered event appends nothing twice).
//
// A command the domain refuses (a *domain.Error: the subscription moved on,
// the email was planned already under another id) is logged and skipped:
// it will be refused again, and poisoning the event would only stall the
// consumer through its retries. Any other error (the database) rolls the
// event back and is retried by the router.
type Reactors struct {
	// Store is the event log (the reactors read aggregates from it and
	// append commands' events to it).
	Store eventstore.Store
	// Commands runs the use cases a reactor needs (CreateShipmentOrder).
	Commands *command.Service
	// Jobs inserts River jobs.
	Jobs JobInserter
	// Clock is the service's now (the test clock under TEST_CLOCK=1): an
	// email planned for now or earlier is enqueued at once.
	Clock func() time.Time
	// Location is the business time zone.
	Location *time.Location
	// Logger receives refused commands (default slog.Default()).
	Logger *slog.Logger
}

// Register adds every reactor to router.
func (r *Reactors) Register(router *eventrouter.Router) {
	router.AddConsumer(ReactorPayments, ReactorFunc(r.ApplyPayments))
	router.AddConsumer(ReactorEmails, ReactorFunc(r.ApplyEmails))
	router.AddConsumer(ReactorShipments, ReactorFunc(r.ApplyShipments))
	router.AddConsumer(ReactorDueWork, ReactorFunc(r.ApplyDueWork))
}

// ReactorFunc wraps a reactor's apply so that its transaction (the
// checkpoint, the jobs, the guard rows) commits asynchronously
// (synchronous_commit off): it does not wait for its WAL to reach disk,
// which is most of the cost of a one-event transaction (measured: catch-up
// of a no-op consumer goes from about 480 to about 2300 events/s).
//
// It is safe here because everything in that transaction is lost or kept
// together: a crash can lose the last few hundred milliseconds of such
// commits, and then the checkpoint is back before the event, which is
// delivered again and yields its jobs again. Nothing durable can depend on a
// lost commit either: PostgreSQL flushes the WAL in order, so any later
// synchronous commit (a job recording its outcome, a command's append)
// makes every earlier asynchronous one durable first. What the lost
// transaction's jobs may already have done outside (a Stripe call, an
// email) is what a crash in the middle of a job leaves too, and the jobs
// are idempotent against it (idempotency keys, the email's state).
func ReactorFunc(apply eventrouter.ApplyFunc) eventrouter.ApplyFunc {
	return func(ctx context.Context, tx pgx.Tx, e eventstore.RecordedEvent) error {
		if err := dbsqlc.New(tx).AsyncCommit(ctx); err != nil {
			return fmt.Errorf("setting the reactor's commit mode: %w", err)
		}
		return apply(ctx, tx, e)
	}
}

func (r *Reactors) logger() *slog.Logger {
	if r.Logger == nil {
		return slog.Default()
	}
	return r.Logger
}

func (r *Reactors) now() time.Time {
	if r.Clock == nil {
		return time.Now()
	}
	return r.Clock()
}

func (r *Reactors) location() *time.Location {
	if r.Location == nil {
		return time.UTC
	}
	return r.Location
}

// refused logs a command the domain refused and swallows it; other errors
// are returned.
func (r *Reactors) refused(ctx context.Context, consumer string, re eventstore.RecordedEvent, what string, err error) error {
	if err == nil || !isRefusal(err) {
		return err
	}
	r.logger().WarnContext(ctx, "reactor: command refused, skipped",
		"consumer", consumer, "event_id", re.ID, "type", re.Type, "stream", re.StreamID, "command", what, "error", err)
	return nil
}

// ApplyPayments is the payment reactor:
//
//	invoice.created            charge attempt 1 (charge_attempts row + charge_invoice job)
//	order.created (costs       an ensure_invoice job a minute later: the repair of a crash
//	  something), charge_due     between the use case's appends (EnsureInvoiceWorker)
//	invoice.paid               subscription RecordPayment (activates or recovers it)
//	invoice.refunded           subscription RecordRefund
//	invoice.retries_exhausted  subscription MarkPastDue with the dunning final action
//
// Scheduled retries (invoice.retry_scheduled) are due work (ApplyDueWork):
// River cannot schedule on a test clock, and the due-work table can.
func (r *Reactors) ApplyPayments(ctx context.Context, tx pgx.Tx, re eventstore.RecordedEvent) error {
	switch re.Type {
	case (order.Created{}).EventType(), (subscription.ChargeDue{}).EventType():
		return r.ensureInvoiceLater(ctx, tx, re)
	}
	if !invoice.Codec.Knows(re.Type) {
		return nil
	}
	ev, err := decodeEvent(re)
	if err != nil || ev == nil {
		return err
	}
	switch e := ev.(type) {
	case invoice.Created:
		_, err := EnqueueChargeAttempt(ctx, tx, r.Jobs, e.InvoiceID, 1)
		return err
	case invoice.Paid:
		if e.SubscriptionID == "" {
			return nil
		}
		return r.subscriptionCommand(ctx, ReactorPayments, re, e.PaidAt, subscription.RecordPayment{
			SubscriptionID: e.SubscriptionID, InvoiceID: e.InvoiceID, PaymentID: e.PaymentID,
			Amount: e.Amount, At: e.PaidAt, Location: r.location(),
		})
	case invoice.Refunded:
		if e.SubscriptionID == "" {
			return nil
		}
		return r.subscriptionCommand(ctx, ReactorPayments, re, e.RefundedAt, subscription.RecordRefund{
			SubscriptionID: e.SubscriptionID, InvoiceID: e.InvoiceID, Amount: e.Amount, At: e.RefundedAt,
		})
	case invoice.RetriesExhausted:
		// Only a plan charge makes the subscription past_due: a priced
		// shipment's invoice (Cycle 0) that cannot be collected is for a
		// person to chase, not a reason to stop the subscription.
		if e.SubscriptionID == "" || e.Cycle == 0 {
			return nil
		}
		st, err := settingsBefore(ctx, r.Store, re.Position)
		if err != nil {
			return err
		}
		return r.subscriptionCommand(ctx, ReactorPayments, re, e.ExhaustedAt, subscription.MarkPastDue{
			SubscriptionID: e.SubscriptionID, InvoiceID: e.InvoiceID,
			FinalAction: finalAction(st.Dunning().FinalAction), At: e.ExhaustedAt, Location: r.location(),
		})
	}
	return nil
}

// ensureRepairDelay is how long after an order or a charge the payment
// reactor checks that its invoice exists: the use case that made it
// creates the invoice right after, so by then it normally has.
const ensureRepairDelay = time.Minute

// ensureInvoiceLater enqueues the ensure_invoice job of an order that
// costs something, or of a charge (order.created, subscription.charge_due),
// a minute from now in real time: a repair, so the test clock need not
// wait for it.
func (r *Reactors) ensureInvoiceLater(ctx context.Context, tx pgx.Tx, re eventstore.RecordedEvent) error {
	ev, err := decodeEvent(re)
	if err != nil || ev == nil {
		return err
	}
	var args EnsureInvoiceArgs
	switch e := ev.(type) {
	case order.Created:
		if !e.Total.IsPositive() {
			return nil
		}
		args.OrderID = e.OrderID
	case subscription.ChargeDue:
		args.SubscriptionID, args.Cycle = e.SubscriptionID, e.Cycle
	default:
		return nil
	}
	_, err = r.Jobs.InsertTx(ctx, tx, args, &river.InsertOpts{ScheduledAt: time.Now().Add(ensureRepairDelay)})
	return err
}

// subscriptionCommand runs c against its subscription with an idempotency
// key derived from the consumer and the causing event.
func (r *Reactors) subscriptionCommand(ctx context.Context, consumer string, re eventstore.RecordedEvent, at time.Time, c subscription.Command) error {
	id := subscriptionOf(c)
	_, err := eventstore.Execute(ctx, r.Store, subscription.Aggregate, subscription.Stream(id), c, eventstore.ExecuteOptions{
		Metadata:       causedBy(re, "reactor:"+consumer, at),
		IdempotencyKey: consumer + "/" + re.ID.String(),
	})
	return r.refused(ctx, consumer, re, fmt.Sprintf("%T on %s", c, id), err)
}

func subscriptionOf(c subscription.Command) domain.SubscriptionID {
	switch c := c.(type) {
	case subscription.RecordPayment:
		return c.SubscriptionID
	case subscription.RecordRefund:
		return c.SubscriptionID
	case subscription.MarkPastDue:
		return c.SubscriptionID
	case subscription.RecordShipmentDue:
		return c.SubscriptionID
	case subscription.CompleteCancellation:
		return c.SubscriptionID
	}
	panic(fmt.Sprintf("workers: subscriptionOf %T", c))
}

// ApplyShipments is the shipping reactor: every scheduled
// subscription.shipment_due gets its order (command.CreateShipmentOrder:
// order.created, and for a priced product its invoice, which the payment
// reactor then charges). Ship-now shipments are skipped: ShipNow made
// their order already, so the answer could name it.
func (r *Reactors) ApplyShipments(ctx context.Context, tx pgx.Tx, re eventstore.RecordedEvent) error {
	if re.Type != (subscription.ShipmentDue{}).EventType() {
		return nil
	}
	ev, err := decodeEvent(re)
	if err != nil {
		return err
	}
	due := ev.(subscription.ShipmentDue)
	if due.ShipNow {
		return nil
	}
	_, err = r.Commands.CreateShipmentOrder(ctx, causedBy(re, "reactor:"+ReactorShipments, occurredAt(re)), due)
	return r.refused(ctx, ReactorShipments, re, "CreateShipmentOrder "+string(due.OrderID), err)
}

// ApplyEmails is the email reactor: for every business event the policy
// plans emails for (email.CustomerOf), it builds email.PolicyInput from the
// log as it stood at the event (the subscription or invoice folded up to
// the version before it, the settings before its position, the customer as
// now, the throttle of payment_failed emails kept in email_throttle with
// this consumer's checkpoint) and appends the Plan and Cancel commands the
// policy returns, each with the idempotency key (event id, email id).
// Sending is the due work's: see ApplyDueWork.
func (r *Reactors) ApplyEmails(ctx context.Context, tx pgx.Tx, re eventstore.RecordedEvent) error {
	ev, err := decodeEvent(re)
	if err != nil || ev == nil {
		return err
	}
	custID, ok := email.CustomerOf(ev)
	if !ok {
		return nil
	}
	cust, _, err := eventstore.Load(ctx, r.Store, customer.Aggregate, customer.Stream(custID))
	if err != nil {
		return err
	}
	if !cust.Exists() {
		r.logger().WarnContext(ctx, "reactor: event for a customer that does not exist; no email",
			"consumer", ReactorEmails, "event_id", re.ID, "type", re.Type, "customer_id", custID)
		return nil
	}
	st, err := settingsBefore(ctx, r.Store, re.Position)
	if err != nil {
		return err
	}
	in := email.PolicyInput{
		Cause:    email.Cause{EventID: re.ID.String(), Event: ev, At: occurredAt(re)},
		Customer: cust,
		Settings: st.Email(),
		Location: r.location(),
	}
	q := dbsqlc.New(tx)
	switch ev.(type) {
	case subscription.Event:
		if in.Subscription, err = loadUpTo(ctx, r.Store, subscription.Aggregate, re.StreamID, re.Version-1); err != nil {
			return err
		}
	case invoice.Event:
		if in.Invoice, err = loadUpTo(ctx, r.Store, invoice.Aggregate, re.StreamID, re.Version-1); err != nil {
			return err
		}
		if _, failed := ev.(invoice.AttemptFailed); failed {
			last, err := q.ThrottleGet(ctx, string(custID))
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("reading the payment_failed throttle of %s: %w", custID, err)
			}
			in.LastPaymentFailedAt = last
		}
	}
	cmds, err := email.Policy(in)
	if err != nil {
		return err
	}
	for _, c := range cmds {
		var id domain.EmailID
		switch c := c.(type) {
		case email.Plan:
			id = c.EmailID
			if c.Type == email.PaymentFailed {
				if err := q.ThrottleSet(ctx, dbsqlc.ThrottleSetParams{CustomerID: string(custID), At: in.Cause.At}); err != nil {
					return fmt.Errorf("recording the payment_failed throttle of %s: %w", custID, err)
				}
			}
		case email.Cancel:
			id = c.EmailID
		default:
			return fmt.Errorf("email policy returned %T", c)
		}
		_, err := eventstore.Execute(ctx, r.Store, email.Aggregate, email.Stream(id), c, eventstore.ExecuteOptions{
			Metadata:       causedBy(re, "reactor:"+ReactorEmails, in.Cause.At),
			IdempotencyKey: re.ID.String() + "/" + string(id),
		})
		if err := r.refused(ctx, ReactorEmails, re, fmt.Sprintf("%T %s", c, id), err); err != nil {
			return err
		}
	}
	return nil
}
