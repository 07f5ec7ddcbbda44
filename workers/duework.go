package workers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/email"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/subscription"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/workers/internal/dbsqlc"
)

// The kinds of due work, as due_work.kind holds them. Each row's args are
// the JSON of the job it becomes.
const (
	dueCharge       = "charge"       // a subscription's next charge → ChargeDueArgs
	dueRetry        = "retry"        // an invoice's scheduled retry → ChargeInvoiceArgs (guarded)
	dueShipment     = "shipment"     // a product's next shipment → ShipmentDueArgs (guarded)
	dueEmail        = "email"        // an email planned for later → SendEmailArgs
	dueCancellation = "cancellation" // a scheduled end → CompleteCancellationArgs
)

// ApplyDueWork is the consumer that keeps due_work, the table of what falls
// due when, in the transaction of its checkpoint:
//
//	subscription.*             from the subscription as the event left it: its next charge
//	                           (while active), each product's next shipment (while active and
//	                           before the end day; due at 00:00 in the business zone), its
//	                           scheduled end (canceling, past_due with a cancellation, term done)
//	invoice.retry_scheduled    the retry, due at retry_at; any later attempt, payment, void or
//	                           exhaustion removes it
//	email.planned              planned_at ≤ now: a send_email job at once; later: due at planned_at;
//	                           sent, canceled or failed for good removes it
//
// DueWork turns rows that have fallen due into jobs.
func (r *Reactors) ApplyDueWork(ctx context.Context, tx pgx.Tx, re eventstore.RecordedEvent) error {
	q := dbsqlc.New(tx)
	switch {
	case subscription.Codec.Knows(re.Type):
		st, err := loadUpTo(ctx, r.Store, subscription.Aggregate, re.StreamID, re.Version)
		if err != nil {
			return err
		}
		if !st.Exists() {
			return nil
		}
		return syncSubscription(ctx, q, st, r.location())
	case invoice.Codec.Knows(re.Type):
		ev, err := decodeEvent(re)
		if err != nil || ev == nil {
			return err
		}
		switch e := ev.(type) {
		case invoice.RetryScheduled:
			return upsertDue(ctx, q, dueRetry, string(e.InvoiceID), e.RetryAt, ChargeInvoiceArgs{InvoiceID: e.InvoiceID, Attempt: e.Attempt})
		case invoice.AttemptStarted:
			return deleteDue(ctx, q, dueRetry, string(e.InvoiceID))
		case invoice.Paid:
			return deleteDue(ctx, q, dueRetry, string(e.InvoiceID))
		case invoice.RetriesExhausted:
			return deleteDue(ctx, q, dueRetry, string(e.InvoiceID))
		case invoice.Voided:
			return deleteDue(ctx, q, dueRetry, string(e.InvoiceID))
		}
	case email.Codec.Knows(re.Type):
		ev, err := decodeEvent(re)
		if err != nil || ev == nil {
			return err
		}
		switch e := ev.(type) {
		case email.Planned:
			if e.PlannedAt.After(r.now()) {
				return upsertDue(ctx, q, dueEmail, string(e.EmailID), e.PlannedAt, SendEmailArgs{EmailID: e.EmailID})
			}
			if err := deleteDue(ctx, q, dueEmail, string(e.EmailID)); err != nil {
				return err
			}
			if _, err := r.Jobs.InsertTx(ctx, tx, SendEmailArgs{EmailID: e.EmailID}, nil); err != nil {
				return fmt.Errorf("enqueuing email %s: %w", e.EmailID, err)
			}
		case email.Sent:
			return deleteDue(ctx, q, dueEmail, string(e.EmailID))
		case email.Canceled:
			return deleteDue(ctx, q, dueEmail, string(e.EmailID))
		case email.Failed:
			if e.Permanent {
				return deleteDue(ctx, q, dueEmail, string(e.EmailID))
			}
		}
	}
	return nil
}

// syncSubscription makes the subscription's due rows match st.
func syncSubscription(ctx context.Context, q *dbsqlc.Queries, st subscription.State, loc *time.Location) error {
	id := string(st.ID)
	if st.Status == subscription.StatusActive && !st.NextChargeAt.IsZero() {
		if err := upsertDue(ctx, q, dueCharge, id, st.NextChargeAt, ChargeDueArgs{SubscriptionID: st.ID, DueAt: st.NextChargeAt.UTC()}); err != nil {
			return err
		}
	} else if err := deleteDue(ctx, q, dueCharge, id); err != nil {
		return err
	}

	// Shipments: the refs are "<subscription>/<product>".
	prefix := id + "/"
	keep := []string{}
	if st.Status == subscription.StatusActive {
		for _, p := range st.Products {
			if p.NextShipmentOn.IsZero() || (!st.EndsOn.IsZero() && !p.NextShipmentOn.Before(st.EndsOn)) {
				continue
			}
			ref := prefix + string(p.ProductID)
			keep = append(keep, ref)
			args := ShipmentDueArgs{SubscriptionID: st.ID, ProductID: p.ProductID, DueOn: p.NextShipmentOn}
			if err := upsertDue(ctx, q, dueShipment, ref, p.NextShipmentOn.Time(loc), args); err != nil {
				return err
			}
		}
	}
	if err := q.DueDeleteRefsExcept(ctx, dbsqlc.DueDeleteRefsExceptParams{Kind: dueShipment, Prefix: prefix, Keep: keep}); err != nil {
		return fmt.Errorf("removing the shipments of %s no longer due: %w", id, err)
	}

	ends := !st.EndsAt.IsZero() && st.Status != subscription.StatusCanceled &&
		(st.Status == subscription.StatusCanceling ||
			(st.Status == subscription.StatusPastDue && !st.CancelRequestedAt.IsZero()) ||
			st.TermDone())
	if ends {
		return upsertDue(ctx, q, dueCancellation, id, st.EndsAt, CompleteCancellationArgs{SubscriptionID: st.ID})
	}
	return deleteDue(ctx, q, dueCancellation, id)
}

func upsertDue(ctx context.Context, q *dbsqlc.Queries, kind, ref string, at time.Time, args river.JobArgs) error {
	b, err := json.Marshal(args)
	if err != nil {
		return fmt.Errorf("encoding the %s due for %s: %w", kind, ref, err)
	}
	if err := q.DueUpsert(ctx, dbsqlc.DueUpsertParams{Kind: kind, Ref: ref, DueAt: at.UTC(), Args: b}); err != nil {
		return fmt.Errorf("recording the %s due for %s at %s: %w", kind, ref, at.UTC().Format(time.RFC3339), err)
	}
	return nil
}

func deleteDue(ctx context.Context, q *dbsqlc.Queries, kind, ref string) error {
	if err := q.DueDelete(ctx, dbsqlc.DueDeleteParams{Kind: kind, Ref: ref}); err != nil {
		return fmt.Errorf("removing the %s due for %s: %w", kind, ref, err)
	}
	return nil
}

// DueWork turns due_work rows that have fallen due into River jobs.
type DueWork struct {
	pool     *pgxpool.Pool
	jobs     JobInserter
	location *time.Location
	logger   *slog.Logger
}

// NewDueWork returns a DueWork enqueuing through jobs, in pool. loc is the
// business time zone (a shipment is due at 00:00 there).
func NewDueWork(pool *pgxpool.Pool, jobs JobInserter, loc *time.Location, logger *slog.Logger) *DueWork {
	if loc == nil {
		loc = time.UTC
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &DueWork{pool: pool, jobs: jobs, location: loc, logger: logger}
}

// withJobs returns a copy of d that enqueues through jobs.
func (d *DueWork) withJobs(jobs JobInserter) *DueWork {
	c := *d
	c.jobs = jobs
	return &c
}

// dueBatch bounds the rows one transaction of Run takes.
const dueBatch = 200

// Run enqueues the job of every row due by now, oldest first, and returns
// how many jobs it inserted. Each row is enqueued in the transaction that
// marks it enqueued (retries and shipments also through their guard
// tables), so concurrent runners (the periodic job in several processes,
// the test clock) enqueue each row once. A row whose arguments cannot be
// read is logged and marked, never retried forever.
func (d *DueWork) Run(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		n, taken, err := d.runBatch(ctx, now)
		total += n
		if err != nil || taken < dueBatch {
			return total, err
		}
	}
}

func (d *DueWork) runBatch(ctx context.Context, now time.Time) (inserted, taken int, err error) {
	err = pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
		inserted = 0
		q := dbsqlc.New(tx)
		rows, err := q.DueTake(ctx, dbsqlc.DueTakeParams{DueBy: now.UTC(), MaxRows: dueBatch})
		if err != nil {
			return fmt.Errorf("reading the due work: %w", err)
		}
		taken = len(rows)
		for _, row := range rows {
			ok, err := d.enqueue(ctx, tx, row.Kind, row.Ref, row.Args)
			if err != nil {
				return err
			}
			if ok {
				inserted++
			}
			if err := q.DueMarkEnqueued(ctx, dbsqlc.DueMarkEnqueuedParams{Kind: row.Kind, Ref: row.Ref}); err != nil {
				return fmt.Errorf("marking the %s due for %s enqueued: %w", row.Kind, row.Ref, err)
			}
		}
		return nil
	})
	return inserted, taken, err
}

// enqueue inserts the job of one due row in tx.
func (d *DueWork) enqueue(ctx context.Context, tx pgx.Tx, kind, ref string, raw []byte) (bool, error) {
	bad := func(err error) (bool, error) {
		d.logger.ErrorContext(ctx, "due work: unreadable row skipped", "kind", kind, "ref", ref, "error", err)
		return false, nil
	}
	switch kind {
	case dueCharge:
		var a ChargeDueArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return bad(err)
		}
		return d.insert(ctx, tx, a)
	case dueRetry:
		var a ChargeInvoiceArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return bad(err)
		}
		return EnqueueChargeAttempt(ctx, tx, d.jobs, a.InvoiceID, a.Attempt)
	case dueShipment:
		var a ShipmentDueArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return bad(err)
		}
		return enqueueShipment(ctx, tx, d.jobs, a)
	case dueEmail:
		var a SendEmailArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return bad(err)
		}
		return d.insert(ctx, tx, a)
	case dueCancellation:
		var a CompleteCancellationArgs
		if err := json.Unmarshal(raw, &a); err != nil {
			return bad(err)
		}
		return d.insert(ctx, tx, a)
	}
	return bad(fmt.Errorf("unknown kind %q", kind))
}

func (d *DueWork) insert(ctx context.Context, tx pgx.Tx, args river.JobArgs) (bool, error) {
	if _, err := d.jobs.InsertTx(ctx, tx, args, nil); err != nil {
		return false, fmt.Errorf("enqueuing %s: %w", args.Kind(), err)
	}
	return true, nil
}

// Next returns the earliest time at which a row not yet enqueued falls due,
// if one does by by.
func (d *DueWork) Next(ctx context.Context, by time.Time) (time.Time, bool, error) {
	at, err := dbsqlc.New(d.pool).DueNext(ctx, by.UTC())
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("reading the next due work: %w", err)
	}
	return at.UTC(), true, nil
}

// ScheduleShipments is POST /v1/scheduler/shipments: it enqueues a
// shipment_due job for every active product whose next shipment is due by
// dueBy and has no job yet, and returns how many it enqueued; a second call
// enqueues nothing new (the shipments table's primary key and the rows'
// enqueued mark).
//
// A shipment is recorded on its day, not before (the subscription refuses
// an early RecordShipmentDue), so dueBy is capped at today, now's day in the
// business zone: shipments due later are enqueued on their day by the
// periodic due work, or by a later call.
func (d *DueWork) ScheduleShipments(ctx context.Context, dueBy domain.Date, now time.Time) (int, error) {
	today := domain.DateIn(now, d.location)
	if dueBy.After(today) {
		dueBy = today
	}
	before := dueBy.AddDays(1).Time(d.location).UTC()
	total := 0
	for {
		n, taken := 0, 0
		err := pgx.BeginFunc(ctx, d.pool, func(tx pgx.Tx) error {
			n = 0
			q := dbsqlc.New(tx)
			rows, err := q.DueTakeKind(ctx, dbsqlc.DueTakeKindParams{Kind: dueShipment, Before: before, MaxRows: dueBatch})
			if err != nil {
				return fmt.Errorf("reading the due shipments: %w", err)
			}
			taken = len(rows)
			for _, row := range rows {
				ok, err := d.enqueue(ctx, tx, row.Kind, row.Ref, row.Args)
				if err != nil {
					return err
				}
				if ok {
					n++
				}
				if err := q.DueMarkEnqueued(ctx, dbsqlc.DueMarkEnqueuedParams{Kind: row.Kind, Ref: row.Ref}); err != nil {
					return fmt.Errorf("marking the shipment %s enqueued: %w", row.Ref, err)
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if taken < dueBatch {
			return total, nil
		}
	}
}

// DueItem is one row of due work, for tests and operators.
type DueItem struct {
	Kind       string
	Ref        string
	DueAt      time.Time
	Args       json.RawMessage
	EnqueuedAt *time.Time
}

// List returns every row of due work, earliest first.
func (d *DueWork) List(ctx context.Context) ([]DueItem, error) {
	rows, err := dbsqlc.New(d.pool).DueList(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the due work: %w", err)
	}
	out := make([]DueItem, len(rows))
	for i, r := range rows {
		out[i] = DueItem{Kind: r.Kind, Ref: r.Ref, DueAt: r.DueAt.UTC(), Args: r.Args, EnqueuedAt: r.EnqueuedAt}
	}
	return out, nil
}

// Scheduler is DueWork.ScheduleShipments at the clock's now: the HTTP
// server's ShipmentScheduler.
type Scheduler struct {
	Due   *DueWork
	Clock func() time.Time
}

// ScheduleShipments enqueues the shipments due by dueBy (capped at today).
func (s Scheduler) ScheduleShipments(ctx context.Context, dueBy domain.Date) (int, error) {
	return s.Due.ScheduleShipments(ctx, dueBy, s.Clock())
}
