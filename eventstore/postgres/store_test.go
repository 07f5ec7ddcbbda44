package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/eventstoretest"
	"github.com/subsd/subsd/eventstore/postgres"
	"github.com/subsd/subsd/eventstore/postgres/pgtest"
)

type testBundle struct {
	pool  *pgxpool.Pool
	store *postgres.Store
}

// setup returns a store over a fresh, migrated database.
func setup(t *testing.T) *testBundle {
	t.Helper()
	pool := pgtest.NewPool(t)
	require.NoError(t, postgres.Migrate(t.Context(), pool))
	return &testBundle{pool: pool, store: postgres.New(pool)}
}

func TestContract(t *testing.T) {
	t.Parallel()
	// One database for the whole suite: its subtests isolate themselves by
	// stream prefix, as they must on a shared EventStoreDB, and share the
	// store's listening connection.
	store := setup(t).store
	eventstoretest.TestStore(t, func(t *testing.T) eventstore.Store { return store })
}

// TestContractOneTransactionEach runs the suite again with group commit off:
// appends then commit concurrently, in any order, which is what the global
// order must survive (with group commit they mostly queue behind one
// flusher).
func TestContractOneTransactionEach(t *testing.T) {
	t.Parallel()
	b := setup(t)
	store := postgres.New(b.pool, postgres.WithGroupCommit(0))
	eventstoretest.TestStore(t, func(t *testing.T) eventstore.Store { return store })
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	store := postgres.New(pool)

	require.Error(t, store.Ping(t.Context()), "Ping fails before the migrations")
	require.NoError(t, postgres.Migrate(t.Context(), pool))
	require.NoError(t, postgres.Migrate(t.Context(), pool), "Migrate is idempotent")
	require.NoError(t, store.Ping(t.Context()))

	var version int32
	require.NoError(t, pool.QueryRow(t.Context(), "SELECT version FROM eventstore_schema_version").Scan(&version))
	require.Positive(t, version)
}

func event(typ string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: typ, Data: []byte(`{}`)}
}

// insertHeld writes an event the way a slow appender would, in a transaction
// left open: it has taken its transaction id (and so its place in the global
// order) but not committed. The caller commits or rolls back tx.
func insertHeld(t *testing.T, pool *pgxpool.Pool, stream string) (pgx.Tx, uuid.UUID) {
	t.Helper()
	tx, err := pool.Begin(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	id := uuid.New()
	_, err = tx.Exec(t.Context(), `INSERT INTO eventstore_streams (stream_id, version, prev_hash, hash)
		VALUES ($1, 1, sha256(''), sha256(''))`, stream)
	require.NoError(t, err)
	_, err = tx.Exec(t.Context(), `INSERT INTO eventstore_events (event_id, stream_id, version, tx_index, type, data, metadata, hash)
		VALUES ($1, $2, 1, 0, 'test.held', '{}', '{}', sha256(''))`, id, stream)
	require.NoError(t, err)
	return tx, id
}

// readAllEventually reads all events from the start until there are want of
// them. The xmin horizon is the whole server's, so a transaction of any other
// test (or any other program) using the server may hold events back for a
// moment.
func readAllEventually(t *testing.T, store *postgres.Store, want int) []eventstore.RecordedEvent {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		all, err := store.ReadAll(t.Context(), eventstore.Start, want+1)
		require.NoError(t, err)
		if len(all) >= want || time.Now().After(deadline) {
			require.Len(t, all, want)
			return all
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReadAllWaitsForOlderTransactions is the gap that a plain sequence would
// fall into: an older transaction commits after a younger one. ReadAll must
// not return the younger transaction's event while the older one is open, and
// afterwards must return both in (transaction, sequence) order.
func TestReadAllWaitsForOlderTransactions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()

	held, heldID := insertHeld(t, b.pool, "held")
	res, err := b.store.Append(ctx, "later", eventstore.NoStream{}, event("test.later"))
	require.NoError(t, err)

	// Subscribed before the commit: must see the held event first.
	delivered := make(chan eventstore.RecordedEvent, 10)
	subCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- b.store.Subscribe(subCtx, eventstore.Start, func(_ context.Context, e eventstore.RecordedEvent) error {
			delivered <- e
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done })

	// The later event is committed and readable by stream, not globally.
	got, err := b.store.ReadStream(ctx, "later", 0, 10)
	require.NoError(t, err)
	require.Len(t, got, 1)
	all, err := b.store.ReadAll(ctx, eventstore.Start, 10)
	require.NoError(t, err)
	require.Empty(t, all, "ReadAll returned an event whose place in the order is not final")
	select {
	case e := <-delivered:
		require.FailNow(t, "subscriber got an event while an older transaction was open", "%s", e.ID)
	case <-time.After(200 * time.Millisecond):
	}

	require.NoError(t, held.Commit(ctx))

	all = readAllEventually(t, b.store, 2)
	require.Equal(t, heldID, all[0].ID, "the older transaction's event comes first")
	require.Equal(t, res.Position, all[1].Position)
	require.True(t, all[0].Position.Less(all[1].Position))
	require.Less(t, all[0].Position.Major, all[1].Position.Major)

	// The subscriber, polling because it knew events were held back, gets
	// both promptly and in order, though the held transaction sent no
	// notification.
	for _, want := range all {
		select {
		case e := <-delivered:
			require.Equal(t, want.ID, e.ID)
		case <-time.After(5 * time.Second):
			require.FailNow(t, "subscriber did not deliver after the older transaction committed")
		}
	}
}

// TestReadAllAfterRolledBackTransaction checks a rolled-back transaction
// leaves no trace and does not block the order.
func TestReadAllAfterRolledBackTransaction(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()

	held, _ := insertHeld(t, b.pool, "rolled-back")
	_, err := b.store.Append(ctx, "kept", eventstore.NoStream{}, event("test.kept"))
	require.NoError(t, err)
	require.NoError(t, held.Rollback(ctx))

	all := readAllEventually(t, b.store, 1)
	require.Equal(t, "kept", all[0].StreamID)
}

// TestUniqueViolationIsConcurrencyError: a (stream, version) unique violation
// from the database surfaces as ErrWrongExpectedVersion, with no driver error
// inside.
func TestUniqueViolationIsConcurrencyError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()

	// An event at version 1 that the streams table does not know about, as
	// a writer bypassing Append would leave it.
	_, err := b.pool.Exec(ctx, `INSERT INTO eventstore_events (event_id, stream_id, version, tx_index, type, data, metadata, hash)
		VALUES ($1, 'bypassed', 1, 0, 'test.bypassed', '{}', '{}', sha256(''))`, uuid.New())
	require.NoError(t, err)

	_, err = b.store.Append(ctx, "bypassed", eventstore.NoStream{}, event("test.appended"))
	require.ErrorIs(t, err, eventstore.ErrWrongExpectedVersion)
	var pgErr *pgconn.PgError
	require.False(t, errors.As(err, &pgErr), "driver error leaked: %v", err)

	got, err := b.store.ReadStream(ctx, "bypassed", 0, 10)
	require.NoError(t, err)
	require.Len(t, got, 1, "the failed append left nothing")
}

// TestEventIDInAnotherStream: ids are unique in the whole store, so reusing
// one in another stream can never succeed.
func TestEventIDInAnotherStream(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()

	e := event("test.once")
	_, err := b.store.Append(ctx, "first", eventstore.NoStream{}, e)
	require.NoError(t, err)
	_, err = b.store.Append(ctx, "second", eventstore.Any{}, e)
	require.ErrorIs(t, err, eventstore.ErrInvalidAppend)
	_, err = b.store.Append(ctx, "second", eventstore.NoStream{}, e)
	require.ErrorIs(t, err, eventstore.ErrInvalidAppend)

	got, err := b.store.ReadStream(ctx, "second", 0, 10)
	require.NoError(t, err)
	require.Empty(t, got)
}

// TestConcurrentRetriesOfOneAppend: the original append and its retry race
// (a client timed out and retried while the first was still committing).
// Both succeed with the same result and the events are stored once.
func TestConcurrentRetriesOfOneAppend(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()

	for _, expected := range []eventstore.ExpectedVersion{eventstore.NoStream{}, eventstore.Any{}} {
		stream := "retried-" + uuid.NewString()
		evs := []eventstore.EventData{event("test.a"), event("test.b")}
		results := make(chan eventstore.AppendResult, 4)
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				res, err := b.store.Append(ctx, stream, expected, evs...)
				results <- res
				errs <- err
			}()
		}
		var first eventstore.AppendResult
		for i := range 4 {
			require.NoError(t, <-errs)
			res := <-results
			if i == 0 {
				first = res
			}
			require.Equal(t, first, res)
		}
		got, err := b.store.ReadStream(ctx, stream, 0, 10)
		require.NoError(t, err)
		require.Len(t, got, 2)
	}
}

// TestSubscribeSurvivesLostConnections kills every connection of the
// database while a subscription runs: it must resume from its last event, with
// nothing lost and nothing repeated.
func TestSubscribeSurvivesLostConnections(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()

	delivered := make(chan eventstore.RecordedEvent, 100)
	subCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- b.store.Subscribe(subCtx, eventstore.Start, func(_ context.Context, e eventstore.RecordedEvent) error {
			delivered <- e
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done })

	var want []uuid.UUID
	for i := range 20 {
		e := event("test.survived")
		want = append(want, e.ID)
		_, err := b.store.Append(ctx, "survivor", eventstore.Exact(uint64(i)), e)
		require.NoError(t, err)
		if i%5 == 4 {
			// Terminate the other backends of this database: the pool's
			// idle connections and the listening connection.
			_, err := b.pool.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
				WHERE datname = current_database() AND pid <> pg_backend_pid()`)
			require.NoError(t, err)
		}
	}
	var got []uuid.UUID
	for range want {
		select {
		case e := <-delivered:
			got = append(got, e.ID)
		case <-time.After(10 * time.Second):
			require.FailNow(t, "subscription stalled", "after %d of %d events", len(got), len(want))
		}
	}
	require.Equal(t, want, got)
	select {
	case e := <-delivered:
		require.FailNow(t, "event delivered twice", "%s", e.ID)
	case <-time.After(100 * time.Millisecond):
	}
}

// TestSubscribeAcrossStores: a subscriber on one Store is woken by appends
// through another (as in another process), through NOTIFY.
func TestSubscribeAcrossStores(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	// A long poll, so that only a notification can deliver quickly.
	subscriber := postgres.New(b.pool, postgres.WithPollInterval(time.Minute))

	delivered := make(chan eventstore.RecordedEvent, 10)
	subCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- subscriber.Subscribe(subCtx, eventstore.Start, func(_ context.Context, e eventstore.RecordedEvent) error {
			delivered <- e
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done })

	for i := range 3 {
		time.Sleep(100 * time.Millisecond) // idle, and listening
		start := time.Now()
		e := event("test.notified")
		_, err := b.store.Append(ctx, "notified", eventstore.Exact(uint64(i)), e)
		require.NoError(t, err)
		select {
		case got := <-delivered:
			require.Equal(t, e.ID, got.ID)
			t.Logf("delivered through NOTIFY in %s", time.Since(start))
		case <-time.After(5 * time.Second):
			require.FailNow(t, "no notification reached the other store")
		}
	}
}

// TestPositionsNumberEventsWithinTheirTransaction checks that Minor is the
// event's index within its transaction, counted across the appends a group
// commit puts together, so positions stay small enough for the one-integer
// token clients see and still order every event.
func TestPositionsNumberEventsWithinTheirTransaction(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()

	// Concurrent appends share transactions through group commit.
	const writers, each = 8, 25
	errs := make(chan error, writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				_, err := b.store.Append(ctx, fmt.Sprintf("tx-index-%d", w), eventstore.Any{}, event("test.one"), event("test.two"))
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	all := readAllEventually(t, b.store, writers*each*2)
	require.Len(t, all, writers*each*2)
	perTx := map[uint64][]uint64{}
	for i, e := range all {
		perTx[e.Position.Major] = append(perTx[e.Position.Major], e.Position.Minor)
		if i > 0 {
			require.True(t, all[i-1].Position.Less(e.Position), "positions out of order at %d", i)
		}
		tok, err := strconv.ParseUint(e.Position.Token(), 10, 64)
		require.NoError(t, err, "token of %v is not an integer", e.Position)
		back, err := eventstore.ParseToken(strconv.FormatUint(tok, 10))
		require.NoError(t, err)
		require.Equal(t, e.Position, back)
	}
	shared := 0
	for tx, minors := range perTx {
		for i, m := range minors {
			require.Equal(t, uint64(i), m, "transaction %d numbers its events 0, 1, 2, ...", tx)
		}
		if len(minors) > 2 {
			shared++
		}
	}
	t.Logf("%d transactions, %d of them holding more than one append", len(perTx), shared)
}
