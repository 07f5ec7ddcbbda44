package workers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/eventrouter"
	"github.com/subsd/subsd/eventstore/postgres"
	"github.com/subsd/subsd/eventstore/postgres/pgtest"
	"github.com/subsd/subsd/workers"
)

// benchArgs is the no-op job of the benchmarks: Seq names it, AppendedAt
// is when its event was appended (or the job inserted), in Unix
// nanoseconds.
type benchArgs struct {
	Seq        int   `json:"seq"`
	AppendedAt int64 `json:"appended_at"`
}

func (benchArgs) Kind() string { return "bench_noop" }

// benchWorker records when each job ran.
type benchWorker struct {
	river.WorkerDefaults[benchArgs]
	done  []atomic.Int64 // by Seq: Unix nanoseconds the job ran
	count atomic.Int64
	all   chan struct{}
	n     int64
}

func (w *benchWorker) Work(ctx context.Context, job *river.Job[benchArgs]) error {
	w.done[job.Args.Seq].Store(time.Now().UnixNano())
	if w.count.Add(1) == w.n {
		close(w.all)
	}
	return nil
}

func benchPool(b *testing.B) *pgxpool.Pool {
	b.Helper()
	cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(b))
	require.NoError(b, err)
	cfg.MaxConns = 60
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	require.NoError(b, err)
	b.Cleanup(pool.Close)
	return pool
}

func benchClient(b *testing.B, pool *pgxpool.Pool, n int) (*workers.Client, *benchWorker) {
	b.Helper()
	w := &benchWorker{done: make([]atomic.Int64, n), all: make(chan struct{}), n: int64(n)}
	ws := river.NewWorkers()
	river.AddWorker(ws, w)
	client, err := workers.NewClient(pool, workers.ClientConfig{
		Workers: ws, MaxWorkers: 200, DueWorkInterval: -1, Logger: quietLogger(),
		FetchCooldown: benchCooldown(), FetchPollInterval: time.Second,
	})
	require.NoError(b, err)
	return client, w
}

// report adds jobs/s and the latency percentiles to the benchmark's
// output. started is when the first event (or job) was written.
func report(b *testing.B, w *benchWorker, appended []int64, started time.Time) {
	b.Helper()
	var last int64
	lat := make([]time.Duration, len(appended))
	for i := range appended {
		d := w.done[i].Load()
		last = max(last, d)
		lat[i] = time.Duration(d - appended[i])
	}
	slices.Sort(lat)
	elapsed := time.Duration(last - started.UnixNano())
	b.ReportMetric(float64(len(appended))/elapsed.Seconds(), "jobs/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op") // per-op time means nothing here
}

// reactorBench is one run of the reactor path: a store, a River client
// with the no-op worker, and a router with one reactor (wrapped like the
// service's, workers.ReactorFunc) that InsertTx's one no-op job per
// bench.ping event in the transaction of its checkpoint.
type reactorBench struct {
	pool   *pgxpool.Pool
	store  *postgres.Store
	client *workers.Client
	worker *benchWorker
	stop   func()
}

func newReactorBench(b *testing.B, n int) *reactorBench {
	b.Helper()
	ctx := context.Background()
	pool := benchPool(b)
	require.NoError(b, postgres.Migrate(ctx, pool))
	require.NoError(b, eventrouter.Migrate(ctx, pool))
	require.NoError(b, workers.Migrate(ctx, pool))
	rb := &reactorBench{pool: pool, store: postgres.New(pool)}
	rb.client, rb.worker = benchClient(b, pool, n)
	return rb
}

// start runs the reactor and River.
func (rb *reactorBench) start(b *testing.B) {
	b.Helper()
	ctx := context.Background()
	router, err := eventrouter.NewRouter(rb.pool, rb.store, eventrouter.Config{Logger: quietLogger()})
	require.NoError(b, err)
	router.AddConsumer("reactor_bench", workers.ReactorFunc(func(ctx context.Context, tx pgx.Tx, e eventstore.RecordedEvent) error {
		if e.Type != "bench.ping" {
			return nil
		}
		var a benchArgs
		if err := json.Unmarshal(e.Data, &a); err != nil {
			return err
		}
		_, err := rb.client.InsertTx(ctx, tx, a, nil)
		return err
	}))
	runCtx, cancel := context.WithCancel(ctx)
	routed := make(chan error, 1)
	go func() { routed <- router.Run(runCtx) }()
	require.NoError(b, rb.client.Start(ctx))
	rb.stop = func() {
		cancel()
		<-routed
		_ = rb.client.Stop(ctx)
	}
}

func (rb *reactorBench) append(b *testing.B, stream string, seq int) int64 {
	at := time.Now().UnixNano()
	data, _ := json.Marshal(benchArgs{Seq: seq, AppendedAt: at})
	_, err := rb.store.Append(context.Background(), stream, eventstore.Any{}, eventstore.EventData{ID: uuid.New(), Type: "bench.ping", Data: data})
	if err != nil {
		b.Error(err)
	}
	return at
}

func (rb *reactorBench) wait(b *testing.B) {
	b.Helper()
	select {
	case <-rb.worker.all:
	case <-time.After(10 * time.Minute):
		b.Fatalf("only %d of %d jobs done", rb.worker.count.Load(), rb.worker.n)
	}
}

// BenchmarkReactorThroughput measures how many jobs per second the
// reactor-enqueued path delivers: b.N events are appended first (16
// writers, not timed), then the reactor and River start, and the clock runs
// until the last job is done. Each event is one transaction of the
// reactor (checkpoint + InsertTx) and one River job.
//
//	go test ./workers -run '^$' -bench ReactorThroughput -benchtime 20000x
func BenchmarkReactorThroughput(b *testing.B) {
	n := b.N
	rb := newReactorBench(b, n)
	const writers = 16
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += writers {
				rb.append(b, fmt.Sprintf("bench-%d", g), i)
			}
		}()
	}
	wg.Wait()
	appended := make([]int64, n)
	b.ResetTimer()
	started := time.Now()
	for i := range appended {
		appended[i] = started.UnixNano()
	}
	rb.start(b)
	defer rb.stop()
	rb.wait(b)
	b.StopTimer()
	report(b, rb.worker, appended, started)
}

// BenchmarkReactorLatency measures event appended → job done for events
// that arrive one at a time, at a pace the path keeps up with (one every
// 5 ms, 200/s): the latency a charge or an email sees in normal operation.
//
//	go test ./workers -run '^$' -bench ReactorLatency -benchtime 2000x
func BenchmarkReactorLatency(b *testing.B) {
	n := b.N
	rb := newReactorBench(b, n)
	rb.start(b)
	defer rb.stop()
	appended := make([]int64, n)
	b.ResetTimer()
	started := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for i := range n {
		<-tick.C
		appended[i] = rb.append(b, "bench-latency", i)
	}
	rb.wait(b)
	b.StopTimer()
	report(b, rb.worker, appended, started)
}

// BenchmarkRiverNoop is River on its own on the same machine and database,
// the baseline for BenchmarkReactorToJob: b.N no-op jobs inserted in
// batches of 1000 (InsertManyFast), worked by the same client
// configuration. Latency is from the batch's insert to the job done.
//
//	go test ./workers -run '^$' -bench RiverNoop -benchtime 20000x
func BenchmarkRiverNoop(b *testing.B) {
	ctx := context.Background()
	pool := benchPool(b)
	require.NoError(b, workers.Migrate(ctx, pool))
	n := b.N
	client, w := benchClient(b, pool, n)
	require.NoError(b, client.Start(ctx))
	defer func() { _ = client.Stop(ctx) }()

	appended := make([]int64, n)
	b.ResetTimer()
	started := time.Now()
	for from := 0; from < n; from += 1000 {
		to := min(from+1000, n)
		at := time.Now().UnixNano()
		params := make([]river.InsertManyParams, 0, to-from)
		for i := from; i < to; i++ {
			appended[i] = at
			params = append(params, river.InsertManyParams{Args: benchArgs{Seq: i, AppendedAt: at}})
		}
		_, err := client.InsertManyFast(ctx, params)
		require.NoError(b, err)
	}
	select {
	case <-w.all:
	case <-time.After(10 * time.Minute):
		b.Fatalf("only %d of %d jobs done", w.count.Load(), n)
	}
	b.StopTimer()
	report(b, w, appended, started)
}

func benchCooldown() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("BENCH_COOLDOWN")); err == nil {
		return d
	}
	return 100 * time.Millisecond
}

// BenchmarkBatchedReactorThroughput is BenchmarkReactorThroughput with
// the consumer the eventrouter does not have yet: it reads the log in pages
// of 500 and applies a page in one transaction (all its jobs through
// InsertManyFastTx, and one checkpoint row update). It is not used by the
// service; it measures what batching the consumers' transactions would
// give, against the one-event-per-transaction design of
// eventrouter.Handler.
//
//	go test ./workers -run '^$' -bench BatchedReactorThroughput -benchtime 20000x
func BenchmarkBatchedReactorThroughput(b *testing.B) {
	n := b.N
	rb := newReactorBench(b, n)
	ctx := context.Background()
	require.NoError(b, eventrouter.Migrate(ctx, rb.pool))
	const writers = 16
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < n; i += writers {
				rb.append(b, fmt.Sprintf("bench-%d", g), i)
			}
		}()
	}
	wg.Wait()
	appended := make([]int64, n)
	b.ResetTimer()
	started := time.Now()
	for i := range appended {
		appended[i] = started.UnixNano()
	}
	require.NoError(b, rb.client.Start(ctx))
	defer func() { _ = rb.client.Stop(ctx) }()
	after := eventstore.Start
	for done := 0; done < n; {
		page, err := rb.store.ReadAll(ctx, after, 500)
		require.NoError(b, err)
		if len(page) == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		params := make([]river.InsertManyParams, 0, len(page))
		for _, e := range page {
			var a benchArgs
			require.NoError(b, json.Unmarshal(e.Data, &a))
			params = append(params, river.InsertManyParams{Args: a})
		}
		require.NoError(b, pgx.BeginFunc(ctx, rb.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `INSERT INTO consumer_checkpoints (name, position_major, position_minor) VALUES ('bench', $1, $2)
				ON CONFLICT (name) DO UPDATE SET position_major = excluded.position_major, position_minor = excluded.position_minor`,
				int64(page[len(page)-1].Position.Major), int64(page[len(page)-1].Position.Minor)); err != nil {
				return err
			}
			_, err := rb.client.InsertManyFastTx(ctx, tx, params)
			return err
		}))
		after = page[len(page)-1].Position
		done += len(page)
	}
	rb.wait(b)
	b.StopTimer()
	report(b, rb.worker, appended, started)
}
