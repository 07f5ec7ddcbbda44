package eventrouter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/eventrouter"
	"github.com/subsd/subsd/eventstore/postgres"
	"github.com/subsd/subsd/eventstore/postgres/pgtest"
)

// bundle is what each test works with: a database of its own holding the
// PostgreSQL event store, the consumer tables and a table the test consumers
// write to.
type bundle struct {
	ctx   context.Context
	pool  *pgxpool.Pool
	store *postgres.Store
}

func setup(t *testing.T) *bundle {
	t.Helper()
	pool := pgtest.NewPool(t)
	ctx := t.Context()
	require.NoError(t, postgres.Migrate(ctx, pool))
	require.NoError(t, eventrouter.Migrate(ctx, pool))
	// What the test consumers apply: one row per application, with no
	// uniqueness, so that an event applied twice shows as two rows.
	_, err := pool.Exec(ctx, `CREATE TABLE applied (
		n bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		consumer text NOT NULL,
		event_id uuid NOT NULL,
		correlation_id text NOT NULL
	)`)
	require.NoError(t, err)
	return &bundle{ctx: ctx, pool: pool, store: postgres.New(pool, postgres.WithLogger(discard()))}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// config is a router configuration with short pauses, for tests.
func config() eventrouter.Config {
	return eventrouter.Config{
		Logger:               discard(),
		MaxRetries:           2,
		RetryInitialInterval: time.Millisecond,
		RetryMaxInterval:     5 * time.Millisecond,
		NackDelay:            10 * time.Millisecond,
		CloseTimeout:         5 * time.Second,
	}
}

// record is an ApplyFunc that writes one row per application.
func record(consumer string) eventrouter.ApplyFunc {
	return func(ctx context.Context, tx pgx.Tx, e eventstore.RecordedEvent) error {
		_, err := tx.Exec(ctx, `INSERT INTO applied (consumer, event_id, correlation_id) VALUES ($1, $2, $3)`,
			consumer, e.ID, e.Metadata.CorrelationID)
		return err
	}
}

// appendEvents appends n events one at a time, spread over three streams, and
// returns them as recorded, in the global order (sequential appends commit in
// order). ReadAll cannot tell that here: while any transaction on the server
// is open (a consumer's, another test's), the store holds back later events.
func (b *bundle) appendEvents(t *testing.T, n int) []eventstore.RecordedEvent {
	t.Helper()
	var out []eventstore.RecordedEvent
	for i := range n {
		e := eventstore.EventData{
			ID:       uuid.New(),
			Type:     "test.happened",
			Data:     fmt.Appendf(nil, `{"i":%d}`, i),
			Metadata: eventstore.Metadata{Actor: "test", CorrelationID: fmt.Sprintf("corr-%d", i)},
		}
		stream := fmt.Sprintf("subscription-%d", i%3)
		res, err := b.store.Append(b.ctx, stream, eventstore.Any{}, e)
		require.NoError(t, err)
		out = append(out, eventstore.RecordedEvent{
			ID: e.ID, StreamID: stream, Version: res.Version, Position: res.Position,
			Type: e.Type, Data: e.Data, Metadata: e.Metadata,
		})
	}
	return out
}

// applied returns the ids of the events consumer applied, in the order it
// applied them.
func (b *bundle) applied(t *testing.T, consumer string) []uuid.UUID {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, `SELECT event_id FROM applied WHERE consumer = $1 ORDER BY n`, consumer)
	require.NoError(t, err)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	require.NoError(t, err)
	return ids
}

// run starts router.Run and returns a function that stops it and returns what
// Run returned.
func run(t *testing.T, router *eventrouter.Router) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- router.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				err = errors.New("Run did not return within 10s of its context being cancelled")
			}
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// waitCheckpoint waits until consumer's checkpoint is at or past p.
func (b *bundle) waitCheckpoint(t *testing.T, consumer string, p eventstore.Position) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := eventrouter.Checkpoint(b.ctx, b.pool, consumer)
		require.NoError(t, err)
		if !got.Less(p) {
			return
		}
		require.True(t, time.Now().Before(deadline), "consumer %s: checkpoint %s, waiting for %s", consumer, got, p)
		time.Sleep(5 * time.Millisecond)
	}
}

func ids(events []eventstore.RecordedEvent) []uuid.UUID {
	out := make([]uuid.UUID, len(events))
	for i, e := range events {
		out[i] = e.ID
	}
	return out
}

func TestConsumersSeeEveryEventOnceInOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)

	before := b.appendEvents(t, 20)

	// After each event, the consumer's rows and checkpoint must agree: they
	// commit together. The observer runs right after the commit, before
	// the consumer's next event: after its k-th event a consumer has
	// exactly k rows and its checkpoint is at that event.
	var mu sync.Mutex
	var mismatches []string
	seen := map[string]int{}
	cfg := config()
	cfg.ObserveFunc = func(o eventrouter.Observation) {
		var rows int
		err := b.pool.QueryRow(context.Background(), `SELECT count(*) FROM applied WHERE consumer = $1`, o.Consumer).Scan(&rows)
		cp, cpErr := eventrouter.Checkpoint(context.Background(), b.pool, o.Consumer)
		mu.Lock()
		defer mu.Unlock()
		seen[o.Consumer]++
		switch {
		case err != nil || cpErr != nil:
			mismatches = append(mismatches, fmt.Sprint(err, cpErr))
		case cp != o.Position:
			mismatches = append(mismatches, fmt.Sprintf("%s: checkpoint %s after event %s", o.Consumer, cp, o.Position))
		case rows != seen[o.Consumer]:
			mismatches = append(mismatches, fmt.Sprintf("%s: %d rows after %d events", o.Consumer, rows, seen[o.Consumer]))
		}
	}
	router, err := eventrouter.NewRouter(b.pool, b.store, cfg)
	require.NoError(t, err)
	router.AddConsumer("projection-a", record("projection-a"))
	router.AddConsumer("projection-b", record("projection-b"))
	stop := run(t, router)

	// Live events, appended while the consumers run.
	all := append(before, b.appendEvents(t, 10)...)
	last := all[len(all)-1].Position
	b.waitCheckpoint(t, "projection-a", last)
	b.waitCheckpoint(t, "projection-b", last)
	require.NoError(t, stop())

	require.Equal(t, ids(all), b.applied(t, "projection-a"))
	require.Equal(t, ids(all), b.applied(t, "projection-b"))

	var corr string
	require.NoError(t, b.pool.QueryRow(b.ctx, `SELECT correlation_id FROM applied WHERE event_id = $1 AND consumer = 'projection-a'`, all[7].ID).Scan(&corr))
	require.Equal(t, "corr-7", corr)

	mu.Lock()
	require.Empty(t, mismatches)
	require.Equal(t, map[string]int{"projection-a": 30, "projection-b": 30}, seen)
	mu.Unlock()

	cps, err := eventrouter.Checkpoints(b.ctx, b.pool)
	require.NoError(t, err)
	require.Len(t, cps, 2)
	require.Equal(t, "projection-a", cps[0].Name)
	require.Equal(t, last, cps[0].Position)
	require.Equal(t, "projection-b", cps[1].Name)
	require.WithinDuration(t, time.Now(), cps[1].UpdatedAt, time.Minute)
}

func TestRestartResumesFromCheckpoint(t *testing.T) {
	t.Parallel()
	b := setup(t)

	var calls atomic.Int64
	apply := func(ctx context.Context, tx pgx.Tx, e eventstore.RecordedEvent) error {
		calls.Add(1)
		return record("projection")(ctx, tx, e)
	}

	first := b.appendEvents(t, 5)
	router, err := eventrouter.NewRouter(b.pool, b.store, config())
	require.NoError(t, err)
	router.AddConsumer("projection", apply)
	stop := run(t, router)
	b.waitCheckpoint(t, "projection", first[4].Position)
	require.NoError(t, stop(), "a cancelled Run returns nil")

	all := append(first, b.appendEvents(t, 5)...)
	router, err = eventrouter.NewRouter(b.pool, b.store, config())
	require.NoError(t, err)
	router.AddConsumer("projection", apply)
	stop = run(t, router)
	b.waitCheckpoint(t, "projection", all[9].Position)
	require.NoError(t, stop())

	require.Equal(t, ids(all), b.applied(t, "projection"))
	require.EqualValues(t, 10, calls.Load(), "no event applied again after the restart")

	// A redelivered event (at or before the checkpoint) is skipped without
	// calling apply.
	msg := eventrouter.NewMessage(all[3])
	require.NoError(t, eventrouter.Handler(b.pool, "projection", apply)(msg))
	require.EqualValues(t, 10, calls.Load())
	require.Equal(t, ids(all), b.applied(t, "projection"))
}

func TestTransientFailureIsRetriedAndAppliedOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	all := b.appendEvents(t, 6)
	flaky := all[2].ID

	var attempts atomic.Int64
	apply := func(ctx context.Context, tx pgx.Tx, e eventstore.RecordedEvent) error {
		// The row is written before failing: the failure must roll it back.
		if err := record("projection")(ctx, tx, e); err != nil {
			return err
		}
		if e.ID == flaky && attempts.Add(1) <= 2 {
			return errors.New("transient")
		}
		return nil
	}
	cfg := config()
	cfg.MaxRetries = 3
	var poisoned atomic.Int64
	cfg.ObserveFunc = func(o eventrouter.Observation) {
		if o.Poisoned {
			poisoned.Add(1)
		}
	}
	router, err := eventrouter.NewRouter(b.pool, b.store, cfg)
	require.NoError(t, err)
	router.AddConsumer("projection", apply)
	stop := run(t, router)
	b.waitCheckpoint(t, "projection", all[5].Position)
	require.NoError(t, stop())

	require.EqualValues(t, 3, attempts.Load(), "two failures, then success")
	require.Equal(t, ids(all), b.applied(t, "projection"), "applied once, in order")
	require.Zero(t, poisoned.Load())
	p, err := eventrouter.PoisonedEvents(b.ctx, b.pool, "projection")
	require.NoError(t, err)
	require.Empty(t, p)
}

func TestPoisonedEventIsRecordedAndConsumerGoesOn(t *testing.T) {
	t.Parallel()
	b := setup(t)
	all := b.appendEvents(t, 8)
	failing, panicking := all[2], all[5]

	var attempts sync.Map // event id -> *atomic.Int64
	count := func(id uuid.UUID) *atomic.Int64 {
		c, _ := attempts.LoadOrStore(id, new(atomic.Int64))
		return c.(*atomic.Int64)
	}
	apply := func(ctx context.Context, tx pgx.Tx, e eventstore.RecordedEvent) error {
		count(e.ID).Add(1)
		if err := record("reactor")(ctx, tx, e); err != nil {
			return err
		}
		switch e.ID {
		case failing.ID:
			return errors.New("card declined forever")
		case panicking.ID:
			panic("nil map somewhere")
		}
		return nil
	}
	cfg := config()
	var mu sync.Mutex
	var observed []eventrouter.Observation
	cfg.ObserveFunc = func(o eventrouter.Observation) {
		mu.Lock()
		defer mu.Unlock()
		observed = append(observed, o)
	}
	router, err := eventrouter.NewRouter(b.pool, b.store, cfg)
	require.NoError(t, err)
	router.AddConsumer("reactor", apply)
	stop := run(t, router)
	b.waitCheckpoint(t, "reactor", all[7].Position)
	require.NoError(t, stop())

	// 1 attempt + MaxRetries retries each, then poisoned.
	require.EqualValues(t, 3, count(failing.ID).Load())
	require.EqualValues(t, 3, count(panicking.ID).Load())

	var want []uuid.UUID
	for _, e := range all {
		if e.ID != failing.ID && e.ID != panicking.ID {
			want = append(want, e.ID)
			require.EqualValues(t, 1, count(e.ID).Load())
		}
	}
	require.Equal(t, want, b.applied(t, "reactor"), "the poisoned events' writes were rolled back; the rest applied once")

	p, err := eventrouter.PoisonedEvents(b.ctx, b.pool, "reactor")
	require.NoError(t, err)
	require.Len(t, p, 2)
	require.Equal(t, failing.ID.String(), p[0].EventID)
	require.Equal(t, failing.StreamID, p[0].StreamID)
	require.Equal(t, failing.Version, p[0].Version)
	require.Equal(t, failing.Position, p[0].Position)
	require.Equal(t, failing.Type, p[0].Type)
	require.Equal(t, "reactor", p[0].Consumer)
	require.Contains(t, p[0].Error, "card declined forever")
	require.Equal(t, panicking.ID.String(), p[1].EventID)
	require.Contains(t, p[1].Error, "nil map somewhere")

	mu.Lock()
	require.Len(t, observed, len(all))
	for i, o := range observed {
		require.Equal(t, all[i].Position, o.Position)
		require.Equal(t, "reactor", o.Consumer)
		require.Equal(t, i == 2 || i == 5, o.Poisoned, "event %d", i)
		require.Positive(t, o.Lag)
	}
	mu.Unlock()

	// A restart does not try the poisoned events again.
	router, err = eventrouter.NewRouter(b.pool, b.store, config())
	require.NoError(t, err)
	router.AddConsumer("reactor", apply)
	stop = run(t, router)
	more := b.appendEvents(t, 1)
	b.waitCheckpoint(t, "reactor", more[0].Position)
	require.NoError(t, stop())
	require.EqualValues(t, 3, count(failing.ID).Load())
	require.EqualValues(t, 3, count(panicking.ID).Load())
	require.Equal(t, append(want, more[0].ID), b.applied(t, "reactor"))
}

func TestCancelStopsTheRouterCleanly(t *testing.T) {
	t.Parallel()
	b := setup(t)
	all := b.appendEvents(t, 3)

	// The consumer blocks on the second event until its context ends: a
	// shutdown must abort it, not poison it nor move the checkpoint.
	blocked := make(chan struct{})
	apply := func(ctx context.Context, tx pgx.Tx, e eventstore.RecordedEvent) error {
		if err := record("projection")(ctx, tx, e); err != nil {
			return err
		}
		if e.ID == all[1].ID {
			close(blocked)
			<-ctx.Done()
			return ctx.Err()
		}
		return nil
	}
	router, err := eventrouter.NewRouter(b.pool, b.store, config())
	require.NoError(t, err)
	router.AddConsumer("projection", apply)
	stop := run(t, router)

	select {
	case <-blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("the consumer never reached the second event")
	}
	start := time.Now()
	require.NoError(t, stop())
	require.Less(t, time.Since(start), 3*time.Second, "Run returns promptly")

	cp, err := eventrouter.Checkpoint(b.ctx, b.pool, "projection")
	require.NoError(t, err)
	require.Equal(t, all[0].Position, cp)
	require.Equal(t, ids(all[:1]), b.applied(t, "projection"))
	p, err := eventrouter.PoisonedEvents(b.ctx, b.pool, "projection")
	require.NoError(t, err)
	require.Empty(t, p, "a shutdown is not the event's fault")

	require.Error(t, router.Run(context.Background()), "Run may be called once")
}

func TestRunWithoutConsumersStopsOnCancel(t *testing.T) {
	t.Parallel()
	b := setup(t)
	router, err := eventrouter.NewRouter(b.pool, b.store, config())
	require.NoError(t, err)
	stop := run(t, router)
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, stop())
}

func TestRunFailsWithoutTables(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	require.NoError(t, postgres.Migrate(t.Context(), pool))
	router, err := eventrouter.NewRouter(pool, postgres.New(pool), config())
	require.NoError(t, err)
	router.AddConsumer("projection", record("projection"))

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err = router.Run(ctx)
	require.ErrorContains(t, err, "consumer_checkpoints")
	require.NoError(t, ctx.Err(), "Run fails at once")
}

func TestAddConsumerPanicsOnWiringErrors(t *testing.T) {
	t.Parallel()
	b := setup(t)
	router, err := eventrouter.NewRouter(b.pool, b.store, config())
	require.NoError(t, err)
	router.AddConsumer("projection", record("projection"))
	require.Panics(t, func() { router.AddConsumer("projection", record("projection")) })
	require.Panics(t, func() { router.AddConsumer("", record("")) })

	_, err = eventrouter.NewRouter(nil, b.store, config())
	require.Error(t, err)
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	require.NoError(t, eventrouter.Migrate(b.ctx, b.pool))

	cp, err := eventrouter.Checkpoint(b.ctx, b.pool, "never-ran")
	require.NoError(t, err)
	require.Equal(t, eventstore.Start, cp)
	cps, err := eventrouter.Checkpoints(b.ctx, b.pool)
	require.NoError(t, err)
	require.Empty(t, cps)
}
