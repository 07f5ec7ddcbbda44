package workers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/command"
	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/email"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/order"
	"github.com/subsd/subsd/domain/subscription"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/eventrouter"
	"github.com/subsd/subsd/eventstore/postgres"
	"github.com/subsd/subsd/eventstore/postgres/pgtest"
	"github.com/subsd/subsd/workers"
)

var amsterdam = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		panic(err)
	}
	return loc
}()

// bundle is one test's service: its own database, the PostgreSQL store,
// the command service, River (started or not), the reactors on a router,
// the test clock and its advancer.
type bundle struct {
	pool     *pgxpool.Pool
	store    eventstore.Store
	commands *command.Service
	jobs     *workers.Client
	due      *workers.DueWork
	clock    *workers.TestClock
	advancer *workers.Advancer
	reactors *workers.Reactors
	md       eventstore.Metadata

	// payments decides the outcome of each charge attempt the stand-in
	// charge worker makes: a decline code, or "" for success.
	mu       sync.Mutex
	declines map[int]string // by cycle*100 + attempt: see decline
	sent     []email.State
	// last is the position of the test's latest write: the store may show
	// it to readers a moment after it committed, so reads wait for it (and
	// for what the tracker saw appended by the reactors and workers).
	last    eventstore.Position
	tracker *workers.AppendTracker
}

// wrote notes a write of the test.
func (b *bundle) wrote(pos eventstore.Position) {
	if b.last.Less(pos) {
		b.last = pos
	}
}

// waitVisible waits until ReadAll shows the test's latest write.
func (b *bundle) waitVisible(t *testing.T) {
	t.Helper()
	want := b.last
	if want.Less(b.tracker.Last()) {
		want = b.tracker.Last()
	}
	require.Eventually(t, func() bool {
		evs := b.readAll(t)
		return len(evs) > 0 && !evs[len(evs)-1].Position.Less(want)
	}, 10*time.Second, 2*time.Millisecond)
}

type setupOpts struct {
	// run starts River and the reactors.
	run bool
}

func quietLogger() *slog.Logger {
	if os.Getenv("WORKERS_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.NewTextHandler(discard{}, nil))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func setup(t *testing.T, opts setupOpts) *bundle {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	require.NoError(t, postgres.Migrate(ctx, pool))
	require.NoError(t, eventrouter.Migrate(ctx, pool))
	require.NoError(t, command.Migrate(ctx, pool))
	require.NoError(t, workers.Migrate(ctx, pool))
	tracker := workers.TrackAppends(postgres.New(pool))
	var store eventstore.Store = tracker
	logger := quietLogger()

	clock, err := workers.OpenTestClock(ctx, pool)
	require.NoError(t, err)
	b := &bundle{pool: pool, store: store, clock: clock, tracker: tracker, md: eventstore.Metadata{Actor: "admin:test", CorrelationID: "test"}}
	b.commands = command.New(command.Deps{Store: store, Pool: pool, Clock: clock.Now, Location: amsterdam})

	ws := river.NewWorkers()
	deps := workers.Deps{Pool: pool, Store: store, Commands: b.commands, Clock: clock.Now, Location: amsterdam, Logger: logger}
	workers.AddDueWorkers(ws, deps)
	river.AddWorker(ws, river.WorkFunc(b.charge))
	river.AddWorker(ws, river.WorkFunc(b.send))
	b.jobs, err = workers.NewClient(pool, workers.ClientConfig{
		Workers: ws, Logger: logger, DueWorkInterval: -1,
		FetchCooldown: 5 * time.Millisecond, FetchPollInterval: 20 * time.Millisecond,
	})
	require.NoError(t, err)
	b.due = workers.NewDueWork(pool, b.jobs, amsterdam, logger)
	b.reactors = &workers.Reactors{Store: store, Commands: b.commands, Jobs: b.jobs, Clock: clock.Now, Location: amsterdam, Logger: logger}
	b.advancer = &workers.Advancer{
		Clock: clock, Due: b.due, Jobs: b.jobs, Store: store, Pool: pool,
		Consumers: workers.ReactorNames(), SettleTimeout: 30 * time.Second, Appends: tracker,
	}
	if opts.run {
		runCtx, cancel := context.WithCancel(context.Background())
		router, err := eventrouter.NewRouter(pool, store, eventrouter.Config{Logger: logger, RetryInitialInterval: 10 * time.Millisecond, MaxRetries: 2})
		require.NoError(t, err)
		b.reactors.Register(router)
		routed := make(chan error, 1)
		go func() { routed <- router.Run(runCtx) }()
		require.NoError(t, b.jobs.Start(context.Background()))
		t.Cleanup(func() {
			cancel()
			<-routed
			stopCtx, stop := context.WithTimeout(context.Background(), 10*time.Second)
			defer stop()
			_ = b.jobs.Stop(stopCtx)
		})
	}
	return b
}

// paymentID is the stand-in's payment id of an attempt.
func paymentID(inv domain.InvoiceID, attempt int) domain.PaymentID {
	return domain.PaymentID(fmt.Sprintf("pay_%s_%d", strings.TrimPrefix(string(inv), "inv_"), attempt))
}

// charge stands in for the Stripe charge worker (workers/charge.go, which
// has its own tests against stripe-mock): it records the attempt and its
// outcome on the invoice, as a synchronous Stripe answer would, declining
// the attempts the test asked to decline.
func (b *bundle) charge(ctx context.Context, job *river.Job[workers.ChargeInvoiceArgs]) error {
	a := job.Args
	now := b.clock.Now()
	md := eventstore.Metadata{Actor: "worker:test_charge", OccurredAt: now}
	pay := paymentID(a.InvoiceID, a.Attempt)
	res, err := eventstore.Execute(ctx, b.store, invoice.Aggregate, invoice.Stream(a.InvoiceID),
		invoice.Command(invoice.StartAttempt{PaymentID: pay, Attempt: a.Attempt, At: now}), eventstore.ExecuteOptions{Metadata: md})
	if err != nil {
		return river.JobCancel(err)
	}
	b.mu.Lock()
	code := b.declines[res.State.Cycle*100+a.Attempt]
	b.mu.Unlock()
	var c invoice.Command = invoice.RecordAttemptSucceeded{PaymentID: pay, PaymentIntentID: "pi_" + string(pay), At: now}
	if code != "" {
		c = invoice.RecordAttemptFailed{PaymentID: pay, PaymentIntentID: "pi_" + string(pay), DeclineCode: code, Location: amsterdam, At: now}
	}
	_, err = eventstore.Execute(ctx, b.store, invoice.Aggregate, invoice.Stream(a.InvoiceID), c, eventstore.ExecuteOptions{Metadata: md})
	return err
}

// decline makes attempt of the charge of cycle fail with code.
func (b *bundle) decline(cycle, attempt int, code string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.declines == nil {
		b.declines = map[int]string{}
	}
	b.declines[cycle*100+attempt] = code
}

// send stands in for the SMTP worker (workers/email.go, tested against an
// SMTP server): it marks a sendable email sent and remembers it.
func (b *bundle) send(ctx context.Context, job *river.Job[workers.SendEmailArgs]) error {
	now := b.clock.Now()
	st, _, err := eventstore.Load(ctx, b.store, email.Aggregate, email.Stream(job.Args.EmailID))
	if err != nil {
		return err
	}
	if !st.Sendable() {
		return nil
	}
	if st.PlannedAt.After(now) {
		return fmt.Errorf("email %s sent at %s before its time %s", st.ID, now, st.PlannedAt)
	}
	res, err := eventstore.Execute(ctx, b.store, email.Aggregate, email.Stream(job.Args.EmailID),
		email.Command(email.MarkSent{EmailID: st.ID, MessageID: "<" + string(st.ID) + "@test>", At: now}),
		eventstore.ExecuteOptions{Metadata: eventstore.Metadata{Actor: "worker:test_send", OccurredAt: now}})
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.sent = append(b.sent, res.State)
	b.mu.Unlock()
	return nil
}

func (b *bundle) sentEmails() []email.State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.sent)
}

func (b *bundle) customer(t *testing.T) customer.State {
	t.Helper()
	res, err := b.commands.CreateCustomer(context.Background(), b.md, customer.Register{
		FirstName: "Ann", LastName: "de Vries", Email: "ann@example.com",
		Address: domain.Address{Street: "Keizersgracht 1", Zipcode: "1015 CJ", City: "Amsterdam", Country: "NL"},
	})
	require.NoError(t, err)
	b.wrote(res.Position)
	return res.Customer
}

func (b *bundle) subscribe(t *testing.T, cus domain.CustomerID, products ...subscription.NewProduct) command.SubscriptionResult {
	t.Helper()
	res, err := b.commands.CreateSubscription(context.Background(), b.md, subscription.Create{
		CustomerID: cus, DeliveryMethod: subscription.Delivery, PaymentMethodID: "pm_card_visa",
		Plan:     subscription.Plan{Name: "Coffee", Price: domain.Cents(2500), Interval: domain.Interval{Unit: domain.Month, Count: 1}},
		Products: products,
	})
	require.NoError(t, err)
	b.wrote(res.Position)
	return res
}

func beans(every int) subscription.NewProduct {
	return subscription.NewProduct{ProductID: "beans", Name: "Beans", Quantity: 1, Interval: domain.Interval{Unit: domain.Week, Count: every}}
}

// advance moves the test clock to at and waits for everything due.
func (b *bundle) advance(t *testing.T, at time.Time) eventstore.Position {
	t.Helper()
	pos, err := b.advancer.AdvanceAfter(context.Background(), at, b.last)
	require.NoError(t, err)
	b.wrote(pos)
	return pos
}

// start moves the clock to a fixed instant, so that dates in the test do
// not depend on the day it runs (the clock starts at the real now).
var start = time.Date(2031, 1, 10, 9, 0, 0, 0, time.UTC)

func (b *bundle) subscriptionState(t *testing.T, id domain.SubscriptionID) subscription.State {
	t.Helper()
	st, _, err := eventstore.Load(context.Background(), b.store, subscription.Aggregate, subscription.Stream(id))
	require.NoError(t, err)
	return st
}

// events returns every event of the store's streams with prefix, in
// global order.
func (b *bundle) events(t *testing.T, prefix string) []eventstore.RecordedEvent {
	t.Helper()
	b.waitVisible(t)
	var out []eventstore.RecordedEvent
	for _, e := range b.readAll(t) {
		if strings.HasPrefix(e.StreamID, prefix) {
			out = append(out, e)
		}
	}
	return out
}

func (b *bundle) readAll(t *testing.T) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	after := eventstore.Start
	for {
		page, err := b.store.ReadAll(context.Background(), after, 500)
		require.NoError(t, err)
		out = append(out, page...)
		if len(page) < 500 {
			return out
		}
		after = page[len(page)-1].Position
	}
}

func (b *bundle) orders(t *testing.T) []order.Created {
	t.Helper()
	var out []order.Created
	for _, re := range b.events(t, order.StreamPrefix) {
		if re.Type == (order.Created{}).EventType() {
			e, err := order.Codec.Decode(re.Type, re.Data)
			require.NoError(t, err)
			out = append(out, e.(order.Created))
		}
	}
	return out
}

func (b *bundle) jobsOfKind(t *testing.T, kind string) []*rivertype.JobRow {
	t.Helper()
	res, err := b.jobs.JobList(context.Background(), river.NewJobListParams().Kinds(kind).First(1000).States(
		rivertype.JobStateAvailable, rivertype.JobStateCompleted, rivertype.JobStateRunning,
		rivertype.JobStateRetryable, rivertype.JobStateScheduled, rivertype.JobStateCancelled, rivertype.JobStateDiscarded))
	require.NoError(t, err)
	return res.Jobs
}

// TestPaymentReactorEnqueuesOneChargePerAttempt: invoice.created yields
// exactly one charge_invoice job for attempt 1, however often the event is
// applied (a redelivery after a crash between the job insert and the
// checkpoint is rolled back with it; here each apply commits, and the
// charge_attempts key still refuses the second job).
func TestPaymentReactorEnqueuesOneChargePerAttempt(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	sub := b.subscribe(t, b.customer(t).ID)
	created := b.events(t, invoice.StreamPrefix)
	require.Len(t, created, 1)
	require.Equal(t, "invoice.created", created[0].Type)

	for range 3 {
		require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
			return b.reactors.ApplyPayments(ctx, tx, created[0])
		}))
	}
	jobs := b.jobsOfKind(t, workers.KindChargeInvoice)
	require.Len(t, jobs, 1)
	require.JSONEq(t, fmt.Sprintf(`{"invoice_id":%q,"attempt":1}`, sub.Invoice.Invoice.ID), string(jobs[0].EncodedArgs))

	// A manual retry of the same attempt number is refused by the key too;
	// the next number is not.
	require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error {
		ok, err := workers.EnqueueChargeAttempt(ctx, tx, b.jobs, sub.Invoice.Invoice.ID, 1)
		require.False(t, ok)
		if err != nil {
			return err
		}
		ok, err = workers.EnqueueChargeAttempt(ctx, tx, b.jobs, sub.Invoice.Invoice.ID, 2)
		require.True(t, ok)
		return err
	}))
	require.Len(t, b.jobsOfKind(t, workers.KindChargeInvoice), 2)
}

// TestReactorAppendsOnceWhenRedelivered: the payment reactor's
// RecordPayment for invoice.paid, applied twice (a redelivery after the
// append succeeded but the checkpoint did not commit), records the payment
// once; likewise the email reactor plans the receipt once.
func TestReactorAppendsOnceWhenRedelivered(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	sub := b.subscribe(t, b.customer(t).ID)
	inv := sub.Invoice.Invoice.ID
	now := b.clock.Now()
	for _, c := range []invoice.Command{
		invoice.StartAttempt{PaymentID: paymentID(inv, 1), Attempt: 1, At: now},
		invoice.RecordAttemptSucceeded{PaymentID: paymentID(inv, 1), PaymentIntentID: "pi_1", At: now},
	} {
		res, err := eventstore.Execute(ctx, b.store, invoice.Aggregate, invoice.Stream(inv), c, eventstore.ExecuteOptions{})
		require.NoError(t, err)
		b.wrote(res.Position)
	}
	var paid eventstore.RecordedEvent
	for _, re := range b.events(t, invoice.StreamPrefix) {
		if re.Type == "invoice.paid" {
			paid = re
		}
	}
	require.Equal(t, "invoice.paid", paid.Type)
	for range 2 {
		require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error { return b.reactors.ApplyPayments(ctx, tx, paid) }))
		require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error { return b.reactors.ApplyEmails(ctx, tx, paid) }))
	}
	st := b.subscriptionState(t, sub.Subscription.ID)
	require.Equal(t, subscription.StatusActive, st.Status)
	require.Equal(t, int64(2500), st.TotalPaid.Amount())
	var received, planned int
	for _, re := range b.events(t, subscription.StreamPrefix) {
		if re.Type == "subscription.payment_received" {
			received++
		}
	}
	for _, re := range b.events(t, email.StreamPrefix) {
		if re.Type == "email.planned" {
			planned++
		}
	}
	require.Equal(t, 1, received)
	require.Equal(t, 1, planned, "one payment_receipt")
}

// TestDueWorkFollowsTheSubscription: the due-work consumer keeps one row
// per thing that falls due (the next charge, each product's next shipment,
// the reminder email), moves them with the events, and removes them when
// the subscription stops being active.
func TestDueWorkFollowsTheSubscription(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{run: true})
	b.advance(t, start)
	sub := b.subscribe(t, b.customer(t).ID, beans(2))
	b.advance(t, start) // settles: the first charge is paid, the subscription active

	st := b.subscriptionState(t, sub.Subscription.ID)
	require.Equal(t, subscription.StatusActive, st.Status)
	items, err := b.due.List(context.Background())
	require.NoError(t, err)
	kinds := map[string]workers.DueItem{}
	for _, it := range items {
		kinds[it.Kind] = it
	}
	require.Contains(t, kinds, "charge")
	require.Equal(t, st.NextChargeAt.UTC(), kinds["charge"].DueAt)
	require.Contains(t, kinds, "shipment")
	// The first shipment was due today (00:00 Amsterdam) and has shipped:
	// the row now holds the next one, two weeks on.
	require.Equal(t, domain.DateIn(start, amsterdam).AddDays(14).Time(amsterdam).UTC(), kinds["shipment"].DueAt)
	require.Contains(t, kinds, "email", "the charge reminder, planned for 3 days before the next charge")
	require.Equal(t, st.NextChargeAt.AddDate(0, 0, -3).UTC(), kinds["email"].DueAt)
	require.Len(t, b.orders(t), 1)

	paused, err := b.commands.PauseSubscription(context.Background(), b.md, sub.Subscription.ID, nil)
	require.NoError(t, err)
	_, err = b.advancer.Settle(context.Background(), paused.Position)
	require.NoError(t, err)
	items, err = b.due.List(context.Background())
	require.NoError(t, err)
	require.Empty(t, items, "a paused subscription charges, ships and reminds nothing")
}

// TestScheduleShipments: POST /v1/scheduler/shipments's work enqueues one
// job per due product, nothing for products due later than today, and
// nothing the second time.
func TestScheduleShipments(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	b.advance(t, start)
	today := domain.DateIn(start, amsterdam)
	cus := b.customer(t)
	var subs []command.SubscriptionResult
	for i := range 3 {
		p := beans(1)
		p.FirstShipmentOn = today.AddDays(i) // today, tomorrow, the day after
		subs = append(subs, b.subscribe(t, cus.ID, p))
	}
	// Make them active and their due rows known, without running River.
	for _, s := range subs {
		res, err := eventstore.Execute(ctx, b.store, subscription.Aggregate, subscription.Stream(s.Subscription.ID), subscription.Command(subscription.RecordPayment{
			SubscriptionID: s.Subscription.ID, InvoiceID: s.Invoice.Invoice.ID, PaymentID: paymentID(s.Invoice.Invoice.ID, 1),
			Amount: domain.Cents(2500), At: start, Location: amsterdam,
		}), eventstore.ExecuteOptions{})
		require.NoError(t, err)
		b.wrote(res.Position)
	}
	b.applyAll(t, workers.ReactorDueWork, b.reactors.ApplyDueWork)

	n, err := b.due.ScheduleShipments(ctx, today.AddDays(30), start)
	require.NoError(t, err)
	require.Equal(t, 1, n, "only today's shipment can be recorded today")
	n, err = b.due.ScheduleShipments(ctx, today.AddDays(30), start)
	require.NoError(t, err)
	require.Equal(t, 0, n, "a second call enqueues nothing new")
	// Tomorrow, tomorrow's.
	n, err = b.due.ScheduleShipments(ctx, today.AddDays(1), start.Add(24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	// The due work's own run finds nothing left of those two, and only
	// the third when its day comes.
	runs, err := b.due.Run(ctx, start.Add(24*time.Hour))
	require.NoError(t, err)
	require.Zero(t, countKind(t, b, workers.KindShipmentDue)-2, "no shipment enqueued twice")
	_ = runs
	_, err = b.due.Run(ctx, start.Add(48*time.Hour))
	require.NoError(t, err)
	require.Equal(t, 3, countKind(t, b, workers.KindShipmentDue))
}

func countKind(t *testing.T, b *bundle, kind string) int { return len(b.jobsOfKind(t, kind)) }

// applyAll applies every event in the store to apply, as consumer would,
// in one transaction per event.
func (b *bundle) applyAll(t *testing.T, consumer string, apply eventrouter.ApplyFunc) {
	t.Helper()
	ctx := context.Background()
	for _, re := range b.events(t, "") {
		require.NoError(t, pgx.BeginFunc(ctx, b.pool, func(tx pgx.Tx) error { return apply(ctx, tx, re) }), consumer)
	}
}

// TestTestClock: the clock starts at the real now, never goes back, and
// keeps its time in the database (a reopened clock reads it).
func TestTestClock(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{run: true})
	ctx := context.Background()
	require.WithinDuration(t, time.Now(), b.clock.Now(), time.Minute)
	at := b.advance(t, start)
	_ = at
	require.Equal(t, start, b.clock.Now())
	_, err := b.advancer.Advance(ctx, start.Add(-time.Second))
	require.ErrorIs(t, err, workers.ErrClockBackwards)
	require.Equal(t, start, b.clock.Now())
	again, err := workers.OpenTestClock(ctx, b.pool)
	require.NoError(t, err)
	require.Equal(t, start, again.Now())
}

// TestCycleOnTestClock drives a subscription through a year of its life on
// the test clock, with the reactors, the due work and River running, and
// stand-ins for the Stripe and SMTP workers (their packages test those
// against stripe-mock and an SMTP server; cmd/subsd's end-to-end test runs
// them all): first charge → active → shipments on their dates → reminder
// before each charge → charges on their dates → a declined charge retried
// on the schedule → cancel at period end → nothing more.
func TestCycleOnTestClock(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{run: true})
	ctx := context.Background()
	b.advance(t, start)
	sub := b.subscribe(t, b.customer(t).ID, beans(2))
	id := sub.Subscription.ID
	b.advance(t, start)
	st := b.subscriptionState(t, id)
	require.Equal(t, subscription.StatusActive, st.Status)
	next := st.NextChargeAt
	require.Equal(t, start.AddDate(0, 1, 0), next.UTC())

	// A month on: shipments on day 0, 14 and 28, the reminder 3 days before
	// the second charge, and the charge itself, each at its time.
	b.decline(3, 1, "insufficient_funds") // the third charge fails once
	b.advance(t, next.Add(time.Hour))
	st = b.subscriptionState(t, id)
	require.Equal(t, 2, st.Cycle)
	require.Equal(t, int64(5000), st.TotalPaid.Amount())
	orders := b.orders(t)
	var shipped []string
	for _, o := range orders {
		shipped = append(shipped, o.ShipOn.String())
	}
	today := domain.DateIn(start, amsterdam)
	require.Equal(t, []string{today.String(), today.AddDays(14).String(), today.AddDays(28).String()}, shipped)

	var reminders []email.State
	for _, e := range b.sentEmails() {
		if e.Type == email.ChargeReminder {
			reminders = append(reminders, e)
		}
	}
	require.Len(t, reminders, 1)
	require.Equal(t, next.AddDate(0, 0, -3), reminders[0].SentAt, "sent at its planned time on the test clock")

	// The third charge is declined, retried a day later (the default
	// schedule) and paid.
	third := st.NextChargeAt
	b.advance(t, third.Add(time.Hour))
	inv, _, err := eventstore.Load(ctx, b.store, invoice.Aggregate, invoice.Stream(command.ChargeInvoiceID(id, 3)))
	require.NoError(t, err)
	require.Equal(t, invoice.StatusFailed, inv.Status)
	require.NotNil(t, inv.NextRetryAt)
	require.Equal(t, third.AddDate(0, 0, 1), inv.NextRetryAt.UTC())
	b.advance(t, third.AddDate(0, 0, 1).Add(time.Hour))
	inv, _, err = eventstore.Load(ctx, b.store, invoice.Aggregate, invoice.Stream(command.ChargeInvoiceID(id, 3)))
	require.NoError(t, err)
	require.Equal(t, invoice.StatusPaid, inv.Status)
	require.Len(t, inv.Attempts, 2)
	var failed int
	for _, e := range b.sentEmails() {
		if e.Type == email.PaymentFailed {
			failed++
		}
	}
	require.Equal(t, 1, failed)

	// Cancel at the period's end; it ends then, and afterwards nothing
	// ships and nothing is charged.
	canceled, err := b.commands.CancelSubscription(ctx, b.md, id, subscription.Cancel{AtPeriodEnd: true}, nil)
	require.NoError(t, err)
	b.wrote(canceled.Position)
	st = b.subscriptionState(t, id)
	require.Equal(t, subscription.StatusCanceling, st.Status)
	ends := st.EndsAt
	ordersBefore := len(b.orders(t))
	b.advance(t, ends.AddDate(0, 3, 0))
	st = b.subscriptionState(t, id)
	require.Equal(t, subscription.StatusCanceled, st.Status)
	require.Equal(t, ends, st.CanceledAt)
	require.Equal(t, 3, st.Cycle, "no charge after the cancellation")
	require.Equal(t, ordersBefore, len(b.orders(t)), "no shipment after the cancellation was asked for")
	items, err := b.due.List(ctx)
	require.NoError(t, err)
	require.Empty(t, items)

	// Every job ran once: one charge job per attempt, none left over.
	require.Len(t, b.jobsOfKind(t, workers.KindChargeInvoice), 4, "charges 1, 2, 3 (twice)")
	for _, j := range append(b.jobsOfKind(t, workers.KindChargeInvoice), b.jobsOfKind(t, workers.KindSendEmail)...) {
		require.Equal(t, rivertype.JobStateCompleted, j.State, "%s %s", j.Kind, j.EncodedArgs)
	}
	// No email went out twice.
	seen := map[domain.EmailID]bool{}
	for _, e := range b.sentEmails() {
		require.False(t, seen[e.ID], "email %s sent twice", e.ID)
		seen[e.ID] = true
	}
}

// TestEnsureInvoiceRepairsACrash: a charge recorded on the subscription
// whose invoice was never created (the process died between ChargeDue's
// two appends) gets its invoice from the ensure_invoice job the payment
// reactor schedules for every charge, and is then charged as usual.
func TestEnsureInvoiceRepairsACrash(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{run: true})
	ctx := context.Background()
	b.advance(t, start)
	sub := b.subscribe(t, b.customer(t).ID)
	id := sub.Subscription.ID
	b.advance(t, start)
	st := b.subscriptionState(t, id)
	require.Equal(t, subscription.StatusActive, st.Status)

	// The crash: charge_due of cycle 2 appended, its invoice not.
	inv2 := command.ChargeInvoiceID(id, 2)
	res, err := eventstore.Execute(ctx, b.store, subscription.Aggregate, subscription.Stream(id), subscription.Command(subscription.RecordChargeDue{
		SubscriptionID: id, InvoiceID: inv2, At: st.NextChargeAt, Location: amsterdam,
	}), eventstore.ExecuteOptions{})
	require.NoError(t, err)
	b.wrote(res.Position)
	b.advance(t, start)
	_, v, err := eventstore.Load(ctx, b.store, invoice.Aggregate, invoice.Stream(inv2))
	require.NoError(t, err)
	require.Zero(t, v, "no invoice yet")
	var scheduled []*rivertype.JobRow
	for _, j := range b.jobsOfKind(t, workers.KindEnsureInvoice) {
		var a workers.EnsureInvoiceArgs
		require.NoError(t, json.Unmarshal(j.EncodedArgs, &a))
		if j.State == rivertype.JobStateScheduled && a == (workers.EnsureInvoiceArgs{SubscriptionID: id, Cycle: 2}) {
			scheduled = append(scheduled, j)
		}
	}
	require.Len(t, scheduled, 1, "the reactor scheduled the repair")

	// Run the repair now rather than in a minute.
	_, err = b.jobs.Insert(ctx, workers.EnsureInvoiceArgs{SubscriptionID: id, Cycle: 2}, nil)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		inv, _, err := eventstore.Load(ctx, b.store, invoice.Aggregate, invoice.Stream(inv2))
		return err == nil && inv.Status == invoice.StatusPaid
	}, 20*time.Second, 20*time.Millisecond, "the invoice is created, then charged by the payment reactor")
	inv, _, err := eventstore.Load(ctx, b.store, invoice.Aggregate, invoice.Stream(inv2))
	require.NoError(t, err)
	require.Equal(t, 2, inv.Cycle)
	require.True(t, strings.HasPrefix(string(inv.Number), "INV-2031-"), inv.Number)
}

// TestTermEndsOnTheTestClock: a subscription of two cycles is charged
// twice, on its dates, and ends where its second cycle does
// (subscription.term_completed from the due work's complete_cancellation);
// nothing is charged or shipped after.
func TestTermEndsOnTheTestClock(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{run: true})
	ctx := context.Background()
	b.advance(t, start)
	two := 2
	res, err := b.commands.CreateSubscription(ctx, b.md, subscription.Create{
		CustomerID: b.customer(t).ID, DeliveryMethod: subscription.Pickup, PaymentMethodID: "pm_card_visa", TermCycles: &two,
		Plan:     subscription.Plan{Name: "Trial", Price: domain.Cents(1000), Interval: domain.Interval{Unit: domain.Month, Count: 1}},
		Products: []subscription.NewProduct{beans(4)},
	})
	require.NoError(t, err)
	b.wrote(res.Position)
	id := res.Subscription.ID
	b.advance(t, start.AddDate(0, 1, 0).Add(time.Hour))
	st := b.subscriptionState(t, id)
	require.Equal(t, subscription.StatusActive, st.Status)
	require.Equal(t, 2, st.Cycle)
	require.True(t, st.NextChargeAt.IsZero(), "no charge after the term's last")
	require.Equal(t, start.AddDate(0, 2, 0), st.EndsAt.UTC())
	b.advance(t, start.AddDate(0, 6, 0))
	st = b.subscriptionState(t, id)
	require.Equal(t, subscription.StatusCanceled, st.Status)
	require.Equal(t, start.AddDate(0, 2, 0), st.CanceledAt.UTC())
	require.Equal(t, 2, st.Cycle)
	require.Equal(t, int64(2000), st.TotalPaid.Amount())
	// Shipments every 4 weeks until the end day: days 0, 28 and 56 (the
	// end is on day 59).
	var shipped []string
	for _, o := range b.orders(t) {
		shipped = append(shipped, o.ShipOn.String())
	}
	today := domain.DateIn(start, amsterdam)
	require.Equal(t, []string{today.String(), today.AddDays(28).String(), today.AddDays(56).String()}, shipped)
	var terms int
	for _, re := range b.events(t, subscription.StreamPrefix) {
		if re.Type == "subscription.term_completed" {
			terms++
		}
	}
	require.Equal(t, 1, terms)
}
