package workers

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/subsd/subsd/command"
	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/subscription"
	"github.com/subsd/subsd/eventstore"
)

// Deps is what the due-work workers need.
type Deps struct {
	Pool     *pgxpool.Pool
	Store    eventstore.Store
	Commands *command.Service
	// Clock is the service's now (the test clock under TEST_CLOCK=1).
	Clock    func() time.Time
	Location *time.Location
	Logger   *slog.Logger
}

func (d Deps) now() time.Time {
	if d.Clock == nil {
		return time.Now().UTC()
	}
	return d.Clock().UTC()
}

func (d Deps) logger() *slog.Logger {
	if d.Logger == nil {
		return slog.Default()
	}
	return d.Logger
}

// AddDueWorkers registers the workers of the due work: the periodic
// due_work tick, charge_due, shipment_due and complete_cancellation; and
// ensure_invoice, the payment reactor's repair.
func AddDueWorkers(ws *river.Workers, d Deps) {
	if d.Location == nil {
		d.Location = time.UTC
	}
	river.AddWorker(ws, &DueWorkWorker{deps: d, due: NewDueWork(d.Pool, nil, d.Location, d.Logger)})
	river.AddWorker(ws, &ChargeDueWorker{deps: d})
	river.AddWorker(ws, &ShipmentDueWorker{deps: d})
	river.AddWorker(ws, &CompleteCancellationWorker{deps: d})
	river.AddWorker(ws, &EnsureInvoiceWorker{deps: d})
}

// jobMetadata is the metadata of the events a job appends: the actor names
// the worker, the correlation id the job.
func jobMetadata(actor string, jobID int64, at time.Time) eventstore.Metadata {
	return eventstore.Metadata{Actor: "worker:" + actor, CorrelationID: "river_job:" + strconv.FormatInt(jobID, 10), OccurredAt: at}
}

// DueWorkWorker runs the due work that has fallen due by the clock's now.
// River runs it every minute (a periodic job); the test clock runs the due
// work itself as it advances.
type DueWorkWorker struct {
	river.WorkerDefaults[DueWorkArgs]
	deps Deps
	due  *DueWork
}

// Work enqueues the jobs of every due row (DueWork.Run).
func (w *DueWorkWorker) Work(ctx context.Context, job *river.Job[DueWorkArgs]) error {
	client, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return err
	}
	n, err := w.due.withJobs(client).Run(ctx, w.deps.now())
	if n > 0 {
		w.deps.logger().InfoContext(ctx, "due work enqueued", "jobs", n)
	}
	return err
}

// ChargeDueWorker makes a subscription's next charge due: command.ChargeDue
// records subscription.charge_due and creates the cycle's invoice, which
// the payment reactor charges.
//
// It is idempotent: a job whose charge was already made (the subscription's
// next charge is no longer DueAt) does nothing, except that when the
// current cycle is the one this job made, it makes sure that cycle's invoice
// exists (command.EnsureChargeInvoice), which repairs a crash between the
// two appends of ChargeDue.
type ChargeDueWorker struct {
	river.WorkerDefaults[ChargeDueArgs]
	deps Deps
}

// Work makes the charge due.
func (w *ChargeDueWorker) Work(ctx context.Context, job *river.Job[ChargeDueArgs]) error {
	a := job.Args
	cur, _, err := eventstore.Load(ctx, w.deps.Store, subscription.Aggregate, subscription.Stream(a.SubscriptionID))
	if err != nil {
		return err
	}
	if !cur.Exists() {
		return river.JobCancel(fmt.Errorf("subscription %s does not exist", a.SubscriptionID))
	}
	md := jobMetadata(KindChargeDue, job.ID, w.deps.now())
	if cur.Cycle > 0 && cur.CycleStartedAt.Equal(a.DueAt) {
		_, err := w.deps.Commands.EnsureChargeInvoice(ctx, md, a.SubscriptionID, cur.Cycle)
		return w.done(ctx, a, err)
	}
	if cur.Status != subscription.StatusActive || !cur.NextChargeAt.Equal(a.DueAt) {
		return nil // the charge moved or stopped since the job was enqueued
	}
	_, err = w.deps.Commands.ChargeDue(ctx, md, a.SubscriptionID)
	return w.done(ctx, a, err)
}

func (w *ChargeDueWorker) done(ctx context.Context, a ChargeDueArgs, err error) error {
	if err != nil && isRefusal(err) {
		w.deps.logger().WarnContext(ctx, "charge_due: refused", "subscription_id", a.SubscriptionID, "due_at", a.DueAt, "error", err)
		return nil
	}
	return err
}

// ShipmentDueWorker records one scheduled shipment
// (subscription.RecordShipmentDue with the order id
// command.ShipmentOrderID), from which the shipping reactor makes the
// order. The subscription refuses a shipment that is no longer due (the
// product's date moved, it was removed, the subscription is not active or
// ends first): the job then does nothing. Repeating it is a no-op: the
// order id is derived, and the append's idempotency key too.
type ShipmentDueWorker struct {
	river.WorkerDefaults[ShipmentDueArgs]
	deps Deps
}

// Work records the shipment.
func (w *ShipmentDueWorker) Work(ctx context.Context, job *river.Job[ShipmentDueArgs]) error {
	a := job.Args
	now := w.deps.now()
	orderID := command.ShipmentOrderID(a.SubscriptionID, a.ProductID, a.DueOn)
	c := subscription.RecordShipmentDue{
		SubscriptionID: a.SubscriptionID, ProductID: a.ProductID, DueOn: a.DueOn,
		OrderID: orderID, Today: domain.DateIn(now, w.deps.Location),
	}
	_, err := eventstore.Execute(ctx, w.deps.Store, subscription.Aggregate, subscription.Stream(a.SubscriptionID), subscription.Command(c), eventstore.ExecuteOptions{
		Metadata:       jobMetadata(KindShipmentDue, job.ID, now),
		IdempotencyKey: KindShipmentDue + "/" + string(orderID),
	})
	if err != nil && isRefusal(err) {
		w.deps.logger().InfoContext(ctx, "shipment_due: not shipped", "subscription_id", a.SubscriptionID,
			"product_id", a.ProductID, "due_on", a.DueOn.String(), "reason", err)
		return nil
	}
	return err
}

// CompleteCancellationWorker ends a subscription whose scheduled end has
// come (subscription.CompleteCancellation: canceled, or term_completed).
// One whose end moved (a pause) or was withdrawn is refused, and the job
// does nothing: the due work holds the new end.
type CompleteCancellationWorker struct {
	river.WorkerDefaults[CompleteCancellationArgs]
	deps Deps
}

// Work completes the cancellation.
func (w *CompleteCancellationWorker) Work(ctx context.Context, job *river.Job[CompleteCancellationArgs]) error {
	a := job.Args
	now := w.deps.now()
	_, err := eventstore.Execute(ctx, w.deps.Store, subscription.Aggregate, subscription.Stream(a.SubscriptionID),
		subscription.Command(subscription.CompleteCancellation{SubscriptionID: a.SubscriptionID, At: now}),
		eventstore.ExecuteOptions{Metadata: jobMetadata(KindCompleteCancellation, job.ID, now)})
	if err != nil && isRefusal(err) {
		w.deps.logger().InfoContext(ctx, "complete_cancellation: refused", "subscription_id", a.SubscriptionID, "reason", err)
		return nil
	}
	return err
}

// EnsureInvoiceWorker makes sure an order that costs something, or a
// subscription's charge, has its invoice (command.EnsureOrderInvoice,
// command.EnsureChargeInvoice): both are no-ops when it exists, which is
// the rule; otherwise they create it (numbered as it would have been), and
// the payment reactor charges it.
type EnsureInvoiceWorker struct {
	river.WorkerDefaults[EnsureInvoiceArgs]
	deps Deps
}

// Work ensures the invoice.
func (w *EnsureInvoiceWorker) Work(ctx context.Context, job *river.Job[EnsureInvoiceArgs]) error {
	a := job.Args
	md := jobMetadata(KindEnsureInvoice, job.ID, w.deps.now())
	var err error
	switch {
	case a.OrderID != "":
		_, err = w.deps.Commands.EnsureOrderInvoice(ctx, md, a.OrderID)
	case a.SubscriptionID != "":
		_, err = w.deps.Commands.EnsureChargeInvoice(ctx, md, a.SubscriptionID, a.Cycle)
	default:
		return river.JobCancel(fmt.Errorf("ensure_invoice names neither an order nor a charge"))
	}
	if err != nil && isRefusal(err) {
		w.deps.logger().WarnContext(ctx, "ensure_invoice: refused", "order_id", a.OrderID, "subscription_id", a.SubscriptionID, "cycle", a.Cycle, "error", err)
		return nil
	}
	return err
}
