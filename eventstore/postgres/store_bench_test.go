package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/postgres"
	"github.com/subsd/subsd/eventstore/postgres/pgtest"
)

// benchEvents is how many events the read benchmarks read: the environment
// variable SUBSD_BENCH_EVENTS, default 20,000 (small enough for CI; the
// figures worth quoting come from 1,000,000).
func benchEvents(b *testing.B) int {
	b.Helper()
	n := 20_000
	if v := os.Getenv("SUBSD_BENCH_EVENTS"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		require.NoError(b, err, "SUBSD_BENCH_EVENTS")
	}
	return n
}

// benchMetadata is what a command handler typically stamps on an event.
var benchMetadata = eventstore.Metadata{
	Actor:         "admin:alice",
	CorrelationID: "3c5b2a4e-1f7d-4e0a-9b3c-8d2e6f1a7b90",
	CausationID:   "b7e1c9d2-5a4f-4c3e-8f2b-1d6a9e0c3f47",
	OccurredAt:    time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
}

var benchData = []byte(`{"subscription_id":"sub_7Hq2kL9x","product_id":"prod_coffee_beans_1kg","interval_days":28,"price":{"amount":2490,"currency":"EUR"}}`)

func benchEvent() eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: "subscription.started", Data: benchData, Metadata: benchMetadata}
}

// BenchmarkAppend appends single-event batches from 8 concurrent writers,
// each to a stream of its own with an exact expected version: the shape of
// command handling. GroupCommit is the default store; OneTransactionEach turns
// group commit off, so each append is its own round trip and commit.
func BenchmarkAppend(b *testing.B) {
	b.Run("GroupCommit", func(b *testing.B) { benchmarkAppend(b) })
	b.Run("OneTransactionEach", func(b *testing.B) { benchmarkAppend(b, postgres.WithGroupCommit(0)) })
}

func benchmarkAppend(b *testing.B, opts ...postgres.Option) {
	const writers = 8
	pool := pgtest.NewPool(b)
	require.NoError(b, postgres.Migrate(b.Context(), pool))
	store := postgres.New(pool, opts...)
	ctx := b.Context()

	var (
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make(chan error, writers)
	)
	b.ResetTimer()
	start := time.Now()
	for w := range writers {
		wg.Go(func() {
			stream := fmt.Sprintf("bench-%d-%s", w, uuid.NewString())
			var version uint64
			for next.Add(1) <= int64(b.N) {
				res, err := store.Append(ctx, stream, eventstore.Exact(version), benchEvent())
				if err != nil {
					errs <- err
					return
				}
				version = res.Version
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	require.NoError(b, <-errs)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
}

// BenchmarkRead fills a database with SUBSD_BENCH_EVENTS events, then reads
// them all in global order, by ReadAll pages and by a catching-up
// subscription.
func BenchmarkRead(b *testing.B) {
	n := benchEvents(b)
	pool := pgtest.NewPool(b)
	require.NoError(b, postgres.Migrate(b.Context(), pool))
	store := postgres.New(pool)
	fill(b, store, n)

	b.Run("ReadAll", func(b *testing.B) {
		ctx := b.Context()
		start := time.Now()
		for b.Loop() {
			read := 0
			var pos eventstore.Position
			for {
				page, err := store.ReadAll(ctx, pos, 1000)
				require.NoError(b, err)
				if len(page) == 0 {
					break
				}
				read += len(page)
				pos = page[len(page)-1].Position
			}
			require.Equal(b, n, read)
		}
		b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "events/s")
	})

	b.Run(fmt.Sprintf("SubscribeCatchUp/%d", n), func(b *testing.B) {
		ctx := b.Context()
		errCaughtUp := errors.New("caught up")
		start := time.Now()
		for b.Loop() {
			read := 0
			err := store.Subscribe(ctx, eventstore.Start, func(context.Context, eventstore.RecordedEvent) error {
				read++
				if read == n {
					return errCaughtUp
				}
				return nil
			})
			require.ErrorIs(b, err, errCaughtUp)
		}
		elapsed := time.Since(start)
		b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "events/s")
		b.ReportMetric(elapsed.Seconds()/float64(b.N), "s/catch-up")
	})
}

// fill appends n events in batches of 1,000 over 1,000 streams.
func fill(b *testing.B, store *postgres.Store, n int) {
	b.Helper()
	start := time.Now()
	const batch = 1000
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make(chan error, 2)
	)
	for range 2 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i*batch >= n {
					return
				}
				evs := make([]eventstore.EventData, min(batch, n-i*batch))
				for j := range evs {
					evs[j] = benchEvent()
				}
				if _, err := store.Append(b.Context(), fmt.Sprintf("fill-%d", i%1000), eventstore.Any{}, evs...); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	require.NoError(b, <-errs)
	b.Logf("filled %d events in %s", n, time.Since(start).Round(time.Millisecond))
}
