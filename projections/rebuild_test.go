package projections

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/eventrouter"
	"github.com/subsd/subsd/projections/internal/dbsqlc"
)

// readLog reads the n events of the store, in global order. ReadAll holds
// back events while any older transaction runs anywhere on the server
// (other tests' included), so it waits for all n.
func (b *bundle) readLog(t testing.TB, n int) []eventstore.RecordedEvent {
	t.Helper()
	var all []eventstore.RecordedEvent
	pos := eventstore.Start
	deadline := time.Now().Add(30 * time.Second)
	for len(all) < n {
		page, err := b.store.ReadAll(b.ctx, pos, 1000)
		require.NoError(t, err)
		if len(page) == 0 {
			require.True(t, time.Now().Before(deadline), "the store returned %d of %d events", len(all), n)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		all = append(all, page...)
		pos = page[len(page)-1].Position
	}
	return all
}

// TestRedelivery delivers every event to each projection's eventrouter
// handler twice, and once more after a delivery whose transaction failed
// after Apply had written (rolled back, as a crash before commit would):
// the read models are the same rows as a rebuild's, so nothing was applied
// twice or half.
func TestRedelivery(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, script, _ := b.loadScript(t)
	events := b.readLog(t, len(script))
	for _, p := range All() {
		apply := ApplyFunc(p)
		failing := eventrouter.Handler(b.pool, p.Name(), func(ctx context.Context, tx pgx.Tx, e eventstore.RecordedEvent) error {
			if err := apply(ctx, tx, e); err != nil {
				return err
			}
			return errors.New("the commit is lost")
		})
		handle := eventrouter.Handler(b.pool, p.Name(), apply)
		for i, e := range events {
			if i%3 == 0 {
				require.Error(t, failing(eventrouter.NewMessage(e)))
			}
			require.NoError(t, handle(eventrouter.NewMessage(e)))
			require.NoError(t, handle(eventrouter.NewMessage(e)))
		}
		for _, e := range events { // a redelivery of everything
			require.NoError(t, handle(eventrouter.NewMessage(e)))
		}
		live := snapshot(t, b.ctx, b.pool, p.Name())
		require.NotEmpty(t, live.documents)
		require.NoError(t, Rebuild(b.ctx, b.pool, b.store, p.Name()))
		requireSameRows(t, p.Name(), live, snapshot(t, b.ctx, b.pool, p.Name()))
	}
}

// TestRebuildSwapIsAtomic reads pages from many goroutines while their
// projections are rebuilt again and again: every read must find the whole
// page, byte for byte what it was (the log does not change meanwhile), never
// an error, a missing page or a half-built one.
func TestRebuildSwapIsAtomic(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w, _, last := b.loadScript(t)
	b.runProjections(t)
	b.waitLive(t, last)

	type read struct {
		name string
		get  func(context.Context) (Doc, error)
	}
	var reads []read
	for _, id := range w.customers {
		reads = append(reads, read{"customer_detail", func(ctx context.Context) (Doc, error) { return b.reader.Customer(ctx, string(id)) }})
	}
	for _, id := range w.orders {
		reads = append(reads, read{"order", func(ctx context.Context) (Doc, error) { return b.reader.Order(ctx, string(id)) }})
	}
	for _, id := range w.invoices {
		reads = append(reads, read{"invoice", func(ctx context.Context) (Doc, error) { return b.reader.Invoice(ctx, string(id)) }})
	}
	want := make([]string, len(reads))
	for i, r := range reads {
		doc, err := r.get(b.ctx)
		require.NoError(t, err)
		want[i] = string(doc.JSON)
	}

	ctx, cancel := context.WithCancel(b.ctx)
	var (
		wg    sync.WaitGroup
		count atomic.Int64
		fail  atomic.Value
	)
	for g := range 8 {
		wg.Go(func() {
			for i := g; ctx.Err() == nil; i++ {
				r := reads[i%len(reads)]
				doc, err := r.get(ctx)
				if ctx.Err() != nil {
					return
				}
				if err != nil {
					fail.CompareAndSwap(nil, err.Error())
					return
				}
				if string(doc.JSON) != want[i%len(reads)] {
					fail.CompareAndSwap(nil, r.name+" changed during a rebuild: "+string(doc.JSON))
					return
				}
				count.Add(1)
			}
		})
	}
	for range 3 {
		for _, n := range []string{"customer_detail", "order", "invoice"} {
			require.NoError(t, Rebuild(b.ctx, b.pool, b.store, n))
		}
	}
	time.Sleep(50 * time.Millisecond)
	cancel()
	wg.Wait()
	require.Nil(t, fail.Load())
	require.Positive(t, count.Load())
	t.Logf("%d reads during 9 rebuilds", count.Load())
}

// TestRebuildRunsOnce refuses a second rebuild of a projection while one
// holds its lock, in this process or another.
func TestRebuildRunsOnce(t *testing.T) {
	t.Parallel()
	b := setup(t)
	p, err := ByName("invoice")
	require.NoError(t, err)
	unlock, err := lockRebuilds(b.ctx, b.pool, []Projection{p})
	require.NoError(t, err)
	require.ErrorIs(t, Rebuild(b.ctx, b.pool, b.store, "invoice"), ErrRebuildRunning)
	require.NoError(t, Rebuild(b.ctx, b.pool, b.store, "order"))
	unlock()
	require.NoError(t, Rebuild(b.ctx, b.pool, b.store, "invoice"))
	require.ErrorIs(t, Rebuild(b.ctx, b.pool, b.store, "nope"), ErrUnknownProjection)
}

// TestEnsureRebuildsChangedVersions: a read model whose stored version is
// not the code's, or whose schema is gone, is rebuilt by Ensure; the others
// are left alone.
func TestEnsureRebuildsChangedVersions(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, _, last := b.loadScript(t)
	b.runProjections(t)
	b.waitLive(t, last)
	want := map[string]readModel{}
	for _, n := range Names() {
		want[n] = snapshot(t, b.ctx, b.pool, n)
	}
	rebuiltAt := func(n string) time.Time {
		r, err := dbsqlc.New(b.pool).RegistryGet(b.ctx, n)
		require.NoError(t, err)
		require.NotNil(t, r.RebuiltAt)
		return *r.RebuiltAt
	}
	before := map[string]time.Time{}
	for _, n := range Names() {
		before[n] = rebuiltAt(n)
	}
	_, err := b.pool.Exec(b.ctx, `UPDATE projection_registry SET version = version + 41 WHERE name = 'order'`)
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `DROP SCHEMA rm_invoice CASCADE`)
	require.NoError(t, err)

	require.NoError(t, Ensure(b.ctx, b.pool, b.store))
	for _, n := range Names() {
		requireSameRows(t, n, want[n], snapshot(t, b.ctx, b.pool, n))
		changed := n == "order" || n == "invoice"
		require.Equal(t, changed, rebuiltAt(n).After(before[n]), "projection %s rebuilt", n)
	}
	r, err := dbsqlc.New(b.pool).RegistryGet(b.ctx, "order")
	require.NoError(t, err)
	require.Equal(t, int32(orderPage{}.Version()), r.Version)
}
