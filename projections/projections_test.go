package projections

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/eventrouter"
	"github.com/subsd/subsd/eventstore/postgres"
	"github.com/subsd/subsd/eventstore/postgres/pgtest"
)

// bundle is what a test works with: a database of its own with the event
// store, the eventrouter's tables and every read model (Ensure), a Reader,
// and a router to run the projections live.
type bundle struct {
	ctx    context.Context
	pool   *pgxpool.Pool
	store  *postgres.Store
	reader *Reader
}

func setup(t testing.TB) *bundle {
	t.Helper()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	require.NoError(t, postgres.Migrate(ctx, pool))
	require.NoError(t, eventrouter.Migrate(ctx, pool))
	store := postgres.New(pool, postgres.WithLogger(discard()), postgres.WithPollInterval(20*time.Millisecond))
	require.NoError(t, Ensure(ctx, pool, store))
	loc, err := time.LoadLocation("Europe/Amsterdam")
	require.NoError(t, err)
	reader := NewReader(pool, WithStore(store), WithLocation(loc), WithLogger(discard()))
	t.Cleanup(reader.Close)
	return &bundle{ctx: ctx, pool: pool, store: store, reader: reader}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// runProjections runs every projection live until the test ends.
func (b *bundle) runProjections(t testing.TB) {
	t.Helper()
	t.Cleanup(b.startRouter(t))
}

// startRouter runs every projection live until stop is called.
func (b *bundle) startRouter(t testing.TB) (stop func()) {
	t.Helper()
	r, err := eventrouter.NewRouter(b.pool, b.store, eventrouter.Config{
		Logger: discard(), MaxRetries: 1, RetryInitialInterval: time.Millisecond, RetryMaxInterval: 5 * time.Millisecond,
		NackDelay: 10 * time.Millisecond, CloseTimeout: 10 * time.Second,
	})
	require.NoError(t, err)
	Register(r)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	return func() {
		cancel()
		require.NoError(t, <-done)
	}
}

// waitLive waits until every projection has applied pos, and checks that
// none gave up on an event.
func (b *bundle) waitLive(t testing.TB, pos eventstore.Position) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 3*time.Minute)
	defer cancel()
	require.NoError(t, b.reader.WaitFor(ctx, pos))
	for _, n := range Names() {
		poisoned, err := eventrouter.PoisonedEvents(b.ctx, b.pool, n)
		require.NoError(t, err)
		require.Empty(t, poisoned, "projection %s poisoned events", n)
	}
}

// readModel is every row of a projection's live tables, rendered as text
// that is equal exactly when the rows are byte for byte.
type readModel struct {
	documents []string
	states    []string
}

func snapshot(t testing.TB, ctx context.Context, pool *pgxpool.Pool, name string) readModel {
	t.Helper()
	s := quote(schemaName(name))
	var rm readModel
	rows, err := pool.Query(ctx, `SELECT id, doc::text, holes, version, parent, sort_key, search, statuses FROM `+s+`.documents ORDER BY id`)
	require.NoError(t, err)
	for rows.Next() {
		var (
			id, doc        string
			holes          []int64
			version, sortK int64
			parent, search *string
			statuses       []string
		)
		require.NoError(t, rows.Scan(&id, &doc, &holes, &version, &parent, &sortK, &search, &statuses))
		rm.documents = append(rm.documents, fmt.Sprintf("%s %q %v %d %v %d %v %q", id, doc, holes, version, deref(parent), sortK, deref(search), statuses))
	}
	require.NoError(t, rows.Err())
	rows, err = pool.Query(ctx, `SELECT kind, id, state FROM `+s+`.states ORDER BY kind, id`)
	require.NoError(t, err)
	for rows.Next() {
		var (
			kind, id string
			state    []byte
		)
		require.NoError(t, rows.Scan(&kind, &id, &state))
		rm.states = append(rm.states, kind+" "+id+" "+string(state))
	}
	require.NoError(t, rows.Err())
	return rm
}

func deref(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

// requireSameRows compares two read models row by row, reporting the first
// difference only (a whole read model does not fit a failure message).
func requireSameRows(t testing.TB, name string, want, got readModel) {
	t.Helper()
	for _, c := range []struct {
		table     string
		want, got []string
	}{{"documents", want.documents, got.documents}, {"states", want.states, got.states}} {
		for i := range max(len(c.want), len(c.got)) {
			var w, g string
			if i < len(c.want) {
				w = c.want[i]
			}
			if i < len(c.got) {
				g = c.got[i]
			}
			if w != g {
				t.Fatalf("%s.%s differs at row %d of %d/%d:\nlive:    %s\nrebuilt: %s", name, c.table, i, len(c.want), len(c.got), w, g)
			}
		}
	}
}

// TestReplayEqualsLive is the test issue 4 requires: a long random scenario
// (thousands of events over many customers, every aggregate, decided by the
// domain and appended with eventstore.Execute to the PostgreSQL store) runs
// while every projection applies it live; then each projection is rebuilt
// from the log, with the live consumers still running, and every row of
// every rebuilt read model must be byte-identical to the live one. Then all
// are rebuilt together (RebuildAll, one pass over the log), and compared
// again. SUBSD_SCENARIO_EVENTS sets the scenario's length (default 3000).
func TestReplayEqualsLive(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.runProjections(t)

	target := envInt(t, "SUBSD_SCENARIO_EVENTS", 3000)
	w := newWorld(t, b.ctx, b.store, nil, 42)
	w.changeSettings() // track & trace on: tracking commands succeed
	start := time.Now()
	for w.events < target {
		w.step()
		if w.rng.IntN(6) == 0 {
			w.newCustomer()
		}
	}
	t.Logf("scenario took %s", time.Since(start))
	start = time.Now()
	defer func() { t.Logf("rest took %s", time.Since(start)) }()
	t.Logf("scenario: %d events, %d customers, %d subscriptions, %d orders, %d invoices",
		w.events, len(w.customers), len(w.subs), len(w.orders), len(w.invoices))
	b.waitLive(t, w.last)
	t.Logf("caught up after %s", time.Since(start))

	live := map[string]readModel{}
	for _, n := range Names() {
		live[n] = snapshot(t, b.ctx, b.pool, n)
		require.NotEmpty(t, live[n].documents, "projection %s has no documents", n)
	}
	for _, n := range Names() {
		require.NoError(t, Rebuild(b.ctx, b.pool, b.store, n))
		requireSameRows(t, n, live[n], snapshot(t, b.ctx, b.pool, n))
	}
	t.Logf("rebuilt one by one after %s", time.Since(start))
	require.NoError(t, RebuildAll(b.ctx, b.pool, b.store))
	for _, n := range Names() {
		requireSameRows(t, n, live[n], snapshot(t, b.ctx, b.pool, n))
	}
	t.Logf("rebuilt all after %s", time.Since(start))

	// The live projections go on from the rebuilt tables, and still agree
	// with a rebuild afterwards.
	for range 100 {
		w.step()
	}
	t.Logf("100 more steps (%d events in all) after %s", w.events, time.Since(start))
	b.waitLive(t, w.last)
	t.Logf("caught up after %s", time.Since(start))
	for _, n := range Names() {
		live := snapshot(t, b.ctx, b.pool, n)
		require.NoError(t, Rebuild(b.ctx, b.pool, b.store, n))
		t.Logf("rebuilt %s after %s", n, time.Since(start))
		requireSameRows(t, n, live, snapshot(t, b.ctx, b.pool, n))
	}

	t.Logf("second round after %s", time.Since(start))
	// as_of's fold over one customer's history gives the live page.
	log := b.readLog(t, w.events)
	for _, cid := range w.customers[:min(20, len(w.customers))] {
		live, err := b.reader.Customer(b.ctx, string(cid))
		require.NoError(t, err)
		folded := foldCustomer(t, b, log, string(cid))
		require.Equal(t, string(live.JSON), string(folded.JSON), "customer %s", cid)
	}
}

// foldCustomer folds the customer's streams (and the settings stream)
// from log, as as_of will: the streams whose events name the customer, and
// the emails planned for them.
func foldCustomer(t testing.TB, b *bundle, log []eventstore.RecordedEvent, customerID string) Doc {
	t.Helper()
	mine := map[string]bool{"customer-" + customerID: true, "settings-business": true}
	for _, e := range log {
		if strings.Contains(string(e.Data), `"customer_id":"`+customerID+`"`) {
			mine[e.StreamID] = true
		}
	}
	var events []eventstore.RecordedEvent
	for _, e := range log {
		if mine[e.StreamID] {
			events = append(events, e)
		}
	}
	doc, err := FoldCustomer(b.ctx, customerID, events, b.reader.clock(), b.reader.loc)
	require.NoError(t, err)
	return doc
}

func envInt(t testing.TB, name string, def int) int {
	t.Helper()
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return def
	}
	var n int
	_, err := fmt.Sscan(v, &n)
	require.NoError(t, err, name)
	return n
}
