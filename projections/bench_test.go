package projections

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/settings"
	"github.com/subsd/subsd/eventstore"
)

// generate fills b's store with a realistic log of about n events: the
// random scenario decided in memory (no store round trips), then appended
// in batches of 50,000 events, each stream's events of a batch in one
// Append, many streams at once. Only the rebuild is what the benchmarks
// measure; this is setup.
// generated is what generate made.
type generated struct {
	customers []domain.CustomerID
	subs      int
	orders    int
	invoices  int
	// last is the store position of the last event.
	last  eventstore.Position
	total int
}

func (b *bundle) generate(t testing.TB, n int, seed uint64) generated {
	t.Helper()
	var (
		batch []eventstore.RecordedEvent
		total int
	)
	// flush appends the batch through the store's own Append: each stream's
	// events of the batch in one append, streams in parallel.
	flush := func() {
		if len(batch) == 0 {
			return
		}
		var streams []string
		byStream := map[string][]eventstore.RecordedEvent{}
		for _, e := range batch {
			if byStream[e.StreamID] == nil {
				streams = append(streams, e.StreamID)
			}
			byStream[e.StreamID] = append(byStream[e.StreamID], e)
		}
		g, ctx := errgroup.WithContext(b.ctx)
		g.SetLimit(12)
		for _, stream := range streams {
			evs := byStream[stream]
			g.Go(func() error {
				data := make([]eventstore.EventData, len(evs))
				for i, e := range evs {
					data[i] = eventstore.EventData{ID: e.ID, Type: e.Type, Data: e.Data, Metadata: e.Metadata}
				}
				_, err := b.store.Append(ctx, stream, eventstore.Exact(evs[0].Version-1), data...)
				return err
			})
		}
		require.NoError(t, g.Wait())
		total += len(batch)
		batch = batch[:0]
	}
	// Worlds of cohortEvents events each, one after the other: a shop's
	// customers in cohorts, so that the simulation stays wide (many
	// customers with months of history each) and its cost linear.
	const cohortEvents = 25_000
	sink := func(e eventstore.RecordedEvent) {
		batch = append(batch, e)
		if len(batch) == 50_000 {
			flush()
		}
	}
	var (
		g         generated
		pos       uint64
		orderNo   int
		invoiceNo int
		made      int
	)
	for cohort := 0; made < n; cohort++ {
		w := newWorld(t, b.ctx, nil, sink, seed+uint64(cohort))
		w.cohort, w.pos, w.orderNo, w.invoiceNo = cohort, pos, orderNo, invoiceNo
		if cohort == 0 {
			w.changeSettings()
		} else {
			// The settings stream is written once; later cohorts follow it.
			w.settings = settings.Evolve(w.settings, settings.EmailSettingsChanged{Email: settings.Email{TrackAndTraceEnabled: true}})
			w.settingsFrozen = true
		}
		for w.events < min(cohortEvents, n-made) {
			w.step()
			if w.rng.IntN(4) == 0 {
				w.newCustomer()
			}
		}
		made += w.events
		pos, orderNo, invoiceNo = w.pos, w.orderNo, w.invoiceNo
		g.customers = append(g.customers, w.customers...)
		g.subs, g.orders, g.invoices = g.subs+len(w.subs), g.orders+len(w.orders), g.invoices+len(w.invoices)
	}
	flush()
	// The position the store gave the last event, not the memory run's.
	log := b.readLog(t, total)
	g.last, g.total = log[len(log)-1].Position, total
	return g
}

// BenchmarkRebuild measures rebuilding from a log of SUBSD_BENCH_EVENTS
// events (default 20,000; run once with 1000000 for the figure):
// reading, decoding, applying in memory, COPY into fresh tables, indexes,
// catch-up and swap. Only the rebuild is timed.
//
//	SUBSD_BENCH_EVENTS=1000000 go test -run '^$' -bench BenchmarkRebuild -benchtime 1x ./projections
func BenchmarkRebuild(b *testing.B) {
	bb := setup(b)
	n := envInt(b, "SUBSD_BENCH_EVENTS", 20_000)
	start := time.Now()
	g := bb.generate(b, n, 7)
	total := g.total
	b.Logf("generated %d events (%d customers, %d subscriptions, %d orders, %d invoices) in %s",
		total, len(g.customers), g.subs, g.orders, g.invoices, time.Since(start))

	traceRebuild = func(phase string, d time.Duration) { b.Logf("  %-30s %s", phase, d) }
	defer func() { traceRebuild = nil }()
	for _, name := range append([]string{"all"}, Names()...) {
		b.Run(name, func(b *testing.B) {
			goCPU, pgCPU := processCPU(), bb.backendsCPU(b)
			for b.Loop() {
				var err error
				if name == "all" {
					err = RebuildAll(bb.ctx, bb.pool, bb.store)
				} else {
					err = Rebuild(bb.ctx, bb.pool, bb.store, name)
				}
				require.NoError(b, err)
			}
			b.ReportMetric(float64(total)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			// CPU time spent, which the machine's other load does not
			// inflate as it does wall time: this process (decoding,
			// applying, encoding) and the database's backends for this
			// test's database (reading the log, COPY, indexes).
			b.ReportMetric((processCPU()-goCPU).Seconds()/float64(b.N), "go-cpu-s/op")
			b.ReportMetric((bb.backendsCPU(b)-pgCPU).Seconds()/float64(b.N), "pg-cpu-s/op")
		})
	}
}

// BenchmarkLive measures the live projections catching up with a log of
// SUBSD_BENCH_LIVE_EVENTS events (default 3,000): every projection as an
// eventrouter consumer, one transaction per event and projection.
func BenchmarkLive(b *testing.B) {
	bb := setup(b)
	g := bb.generate(b, envInt(b, "SUBSD_BENCH_LIVE_EVENTS", 3000), 11)
	for b.Loop() {
		// From scratch each time: a fresh read model and checkpoints.
		b.StopTimer()
		_, err := bb.pool.Exec(bb.ctx, `DELETE FROM consumer_checkpoints`)
		require.NoError(b, err)
		for _, n := range Names() {
			_, err := bb.pool.Exec(bb.ctx, `TRUNCATE `+quote(schemaName(n))+`.documents, `+quote(schemaName(n))+`.states`)
			require.NoError(b, err)
		}
		b.StartTimer()
		stop := bb.startRouter(b)
		bb.waitLive(b, g.last)
		b.StopTimer()
		stop()
		b.StartTimer()
	}
	b.ReportMetric(float64(g.total)*float64(b.N)/b.Elapsed().Seconds(), "events/s/projection")
}

// BenchmarkReaderCustomer measures the customer detail read path
// (Reader.Customer: one primary-key select and the holes filled in) from 8
// goroutines, over the customers of a generated log.
func BenchmarkReaderCustomer(b *testing.B) {
	bb := setup(b)
	g := bb.generate(b, envInt(b, "SUBSD_BENCH_READ_EVENTS", 20_000), 13)
	require.NoError(b, RebuildAll(bb.ctx, bb.pool, bb.store))
	ids := g.customers
	var next, bytes atomic.Int64
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := ids[int(next.Add(1))%len(ids)]
			doc, err := bb.reader.Customer(bb.ctx, string(id))
			if err != nil {
				b.Error(err)
				return
			}
			bytes.Add(int64(len(doc.JSON)))
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
	b.ReportMetric(float64(bytes.Load())/float64(b.N), "bytes/doc")
}

// processCPU is the CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backendsCPU is the CPU time used by the server processes of this test's
// database (as /proc tells; 0 where it cannot), for benchmarks.
func (b *bundle) backendsCPU(t testing.TB) time.Duration {
	t.Helper()
	rows, err := b.pool.Query(b.ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)
	require.NoError(t, err)
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	require.NoError(t, err)
	var total time.Duration
	for _, pid := range pids {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// Fields after the command (which may hold spaces) in parentheses:
		// utime and stime are fields 14 and 15, in clock ticks (100 Hz).
		f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
		if len(f) > 13 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			s, _ := strconv.ParseInt(f[12], 10, 64)
			total += time.Duration(u+s) * 10 * time.Millisecond
		}
	}
	return total
}
