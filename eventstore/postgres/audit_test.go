package postgres_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/postgres"
	"github.com/subsd/subsd/eventstore/postgres/pgtest"
)

// storedEvent is an event's row as the hash covers it.
type storedEvent struct {
	version  int64
	id       uuid.UUID
	typ      string
	data     []byte
	metadata []byte
	hash     []byte
}

func storedStream(t *testing.T, pool *pgxpool.Pool, stream string) []storedEvent {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT version, event_id, type, data, metadata::text, hash
		FROM eventstore_events WHERE stream_id = $1 ORDER BY version`, stream)
	require.NoError(t, err)
	defer rows.Close()
	var out []storedEvent
	for rows.Next() {
		var e storedEvent
		require.NoError(t, rows.Scan(&e.version, &e.id, &e.typ, &e.data, &e.metadata, &e.hash))
		out = append(out, e)
	}
	require.NoError(t, rows.Err())
	return out
}

// requireChain recomputes stream's chain in Go, as Verify does, and checks
// it against the hashes the append statements stored, and the stream's head.
func requireChain(t *testing.T, pool *pgxpool.Pool, stream string, wantEvents int) {
	t.Helper()
	events := storedStream(t, pool, stream)
	require.Len(t, events, wantEvents)
	prev := make([]byte, sha256.Size)
	for i, e := range events {
		require.Equal(t, int64(i+1), e.version)
		want := postgres.EventHash(prev, e.version, e.id, stream, e.typ, e.data, e.metadata)
		require.Equal(t, want, e.hash, "%s version %d", stream, e.version)
		prev = e.hash
	}
	var head []byte
	require.NoError(t, pool.QueryRow(t.Context(), `SELECT hash FROM eventstore_streams WHERE stream_id = $1`, stream).Scan(&head))
	require.Equal(t, prev, head, "the stream's head is its last event's hash")
}

func metaEvent(typ, data string) eventstore.EventData {
	return eventstore.EventData{ID: uuid.New(), Type: typ, Data: []byte(data), Metadata: eventstore.Metadata{
		Actor: "admin", CorrelationID: "req_1", CausationID: "évènement ✓", OccurredAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC),
	}}
}

// TestHashChainOfEveryAppendForm: every form of the append statement (Any,
// NoStream, Exact; one event or many; a new stream or an existing one)
// stores the hash that the Go computation of Verify expects, chained across
// appends, and RecordedEvent.Hash carries it.
func TestHashChainOfEveryAppendForm(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	for _, form := range []string{"any", "nostream", "exact"} {
		for _, many := range []bool{false, true} {
			stream := fmt.Sprintf("chain-%s-%v", form, many)
			batch := func(i int) []eventstore.EventData {
				if !many {
					return []eventstore.EventData{metaEvent("test.one", fmt.Sprintf(`{"n":%d,"name":"Zoë"}`, i))}
				}
				return []eventstore.EventData{
					metaEvent("test.first", fmt.Sprintf(`{"n":%d}`, i)),
					metaEvent("test.second", `{"nested":{"a":[1,2,3]}}`),
					metaEvent("test.third", `"a string"`),
				}
			}
			var version uint64
			for i := range 3 {
				var expected eventstore.ExpectedVersion
				switch {
				case form == "any":
					expected = eventstore.Any{}
				case form == "nostream" && i == 0:
					expected = eventstore.NoStream{}
				default:
					expected = eventstore.Exact(version)
				}
				res, err := b.store.Append(ctx, stream, expected, batch(i)...)
				require.NoError(t, err, stream)
				version = res.Version
			}
			n := 3
			if many {
				n = 9
			}
			requireChain(t, b.pool, stream, n)

			read, err := b.store.ReadStream(ctx, stream, 1, 100)
			require.NoError(t, err)
			stored := storedStream(t, b.pool, stream)
			for i := range read {
				require.Equal(t, stored[i].hash, read[i].Hash)
			}
		}
	}
}

// TestHashChainUnderConcurrentAppenders: appenders racing for one stream
// (Any, so every append succeeds, in an order decided by the stream row's
// lock) and group commit's shared transactions still chain every event from
// the one before it.
func TestHashChainUnderConcurrentAppenders(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				evs := []eventstore.EventData{metaEvent("test.raced", fmt.Sprintf(`{"w":%d,"i":%d}`, w, i))}
				if i%3 == 0 {
					evs = append(evs, metaEvent("test.raced", `{"second":true}`))
				}
				_, err := b.store.Append(context.Background(), "raced", eventstore.Any{}, evs...)
				if err != nil {
					t.Error(err)
					return
				}
				// Other streams in the same group commits.
				if _, err := b.store.Append(context.Background(), fmt.Sprintf("own-%d", w), eventstore.Any{}, metaEvent("test.own", `{}`)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	requireChain(t, b.pool, "raced", writers*each+writers*9)
	report, err := b.store.Verify(t.Context(), eventstore.VerifyOptions{})
	require.NoError(t, err)
	require.True(t, report.OK(), "%+v", report.Broken)
	require.Equal(t, int64(writers+1), report.Streams)
	require.Equal(t, int64(writers*each*2+writers*9), report.Events)
}

// TestVerifyNamesTamperedEvents edits the stored log with SQL in each way a
// hash chain shows, one stream per way, and checks that Verify reports the
// first broken link of exactly those streams, naming the event.
func TestVerifyNamesTamperedEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	streams := []string{"intact", "data", "metadata", "type", "rehashed", "gap", "truncated", "head", "renumbered", "orphan"}
	ids := map[string][]uuid.UUID{}
	for _, s := range streams {
		for i := range 4 {
			e := metaEvent("test.e", fmt.Sprintf(`{"i":%d,"email":"ann@example.com"}`, i))
			ids[s] = append(ids[s], e.ID)
			_, err := b.store.Append(ctx, s, eventstore.Any{}, e)
			require.NoError(t, err)
		}
	}
	report, err := b.store.Verify(ctx, eventstore.VerifyOptions{})
	require.NoError(t, err)
	require.True(t, report.OK(), "before tampering: %+v", report.Broken)
	require.Equal(t, int64(len(streams)), report.Streams)
	require.Equal(t, int64(4*len(streams)), report.Events)

	exec := func(sql string, args ...any) {
		t.Helper()
		tag, err := b.pool.Exec(ctx, sql, args...)
		require.NoError(t, err, sql)
		require.Positive(t, tag.RowsAffected(), sql)
	}
	// Contents changed, hash left: the event itself fails.
	exec(`UPDATE eventstore_events SET data = convert_to('{"i":1,"email":"eve@example.com"}', 'UTF8') WHERE stream_id = 'data' AND version = 2`)
	exec(`UPDATE eventstore_events SET metadata = '{"actor":"support"}' WHERE stream_id = 'metadata' AND version = 3`)
	exec(`UPDATE eventstore_events SET type = 'test.other' WHERE stream_id = 'type' AND version = 1`)
	// Contents changed and the event's hash recomputed: the next link fails.
	exec(`UPDATE eventstore_events SET data = convert_to('{"i":1}', 'UTF8'),
		hash = eventstore_event_hash((SELECT hash FROM eventstore_events WHERE stream_id = 'rehashed' AND version = 1), 2, event_id, stream_id, type, convert_to('{"i":1}', 'UTF8'), metadata::text)
		WHERE stream_id = 'rehashed' AND version = 2`)
	// An event removed from the middle, from the end, a head changed.
	exec(`DELETE FROM eventstore_events WHERE stream_id = 'gap' AND version = 2`)
	exec(`DELETE FROM eventstore_events WHERE stream_id = 'truncated' AND version = 4`)
	exec(`UPDATE eventstore_streams SET hash = sha256('forged') WHERE stream_id = 'head'`)
	// Events renumbered to hide a removal.
	exec(`DELETE FROM eventstore_events WHERE stream_id = 'renumbered' AND version = 1`)
	exec(`UPDATE eventstore_events SET version = version - 1 WHERE stream_id = 'renumbered'`)
	exec(`UPDATE eventstore_streams SET version = 3 WHERE stream_id = 'renumbered'`)
	// Every event of a stream removed.
	exec(`DELETE FROM eventstore_events WHERE stream_id = 'orphan'`)

	report, err = b.store.Verify(ctx, eventstore.VerifyOptions{})
	require.NoError(t, err)
	require.False(t, report.OK())
	got := map[string]eventstore.BrokenLink{}
	for _, l := range report.Broken {
		_, dup := got[l.Stream]
		require.False(t, dup, "one link per stream: %v", l)
		got[l.Stream] = l
	}
	require.Equal(t, int64(len(streams)-1), report.BrokenStreams)
	require.NotContains(t, got, "intact")

	for stream, want := range map[string]struct {
		version uint64
		id      uuid.UUID
		reason  string
	}{
		"data":       {2, ids["data"][1], "stored hash does not match"},
		"metadata":   {3, ids["metadata"][2], "stored hash does not match"},
		"type":       {1, ids["type"][0], "stored hash does not match"},
		"rehashed":   {3, ids["rehashed"][2], "stored hash does not match"},
		"gap":        {3, ids["gap"][2], "version 3 follows version 1"},
		"truncated":  {4, uuid.Nil, "says version 4 but its last event is version 3"},
		"head":       {4, ids["head"][3], "another head hash"},
		"renumbered": {1, ids["renumbered"][1], "stored hash does not match"},
		"orphan":     {1, uuid.Nil, "has no events"},
	} {
		l, ok := got[stream]
		require.True(t, ok, "%s not reported: %+v", stream, report.Broken)
		require.Equal(t, want.version, l.Version, "%s: %s", stream, l)
		require.Equal(t, want.id, l.EventID, "%s: %s", stream, l)
		require.Contains(t, l.Reason, want.reason, stream)
		if want.id != uuid.Nil {
			require.NotZero(t, l.Position, stream)
			require.Contains(t, l.String(), want.id.String())
		}
	}
}

// TestVerifyPagesAndMaxBroken: streams longer than a page of Verify (10,000
// events) are walked across pages, and MaxBroken bounds the list but not the
// count.
func TestVerifyPagesAndMaxBroken(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	for i := range 3 {
		evs := make([]eventstore.EventData, 6000)
		for j := range evs {
			evs[j] = metaEvent("test.bulk", fmt.Sprintf(`{"j":%d}`, j))
		}
		_, err := b.store.Append(ctx, "long", eventstore.Any{}, evs...)
		require.NoError(t, err)
		_, err = b.store.Append(ctx, fmt.Sprintf("short-%d", i), eventstore.Any{}, evs[:10]...)
		require.ErrorIs(t, err, eventstore.ErrInvalidAppend, "ids are unique in the store")
		for j := range 5 {
			_, err = b.store.Append(ctx, fmt.Sprintf("short-%d-%d", i, j), eventstore.Any{}, metaEvent("test.short", `{}`))
			require.NoError(t, err)
		}
	}
	var progress []int64
	report, err := b.store.Verify(ctx, eventstore.VerifyOptions{Progress: func(n int64) { progress = append(progress, n) }})
	require.NoError(t, err)
	require.True(t, report.OK(), "%+v", report.Broken)
	require.Equal(t, int64(18015), report.Events)
	require.Equal(t, int64(16), report.Streams)
	require.Equal(t, int64(18015), progress[len(progress)-1])

	_, err = b.pool.Exec(ctx, `UPDATE eventstore_events SET data = convert_to('{"x":1}', 'UTF8') WHERE stream_id LIKE 'short-%' OR (stream_id = 'long' AND version = 12345)`)
	require.NoError(t, err)
	report, err = b.store.Verify(ctx, eventstore.VerifyOptions{MaxBroken: 4})
	require.NoError(t, err)
	require.Equal(t, int64(16), report.BrokenStreams)
	require.Len(t, report.Broken, 4)
	i := slices.IndexFunc(report.Broken, func(l eventstore.BrokenLink) bool { return l.Stream == "long" })
	require.GreaterOrEqual(t, i, 0, "%+v", report.Broken)
	require.Equal(t, uint64(12345), report.Broken[i].Version)
}

// TestMigrationChainsExistingEvents: events stored before the hash chain
// existed (migration 1) are chained by migration 2, as the append statement
// would have chained them, and appends go on from the chained head.
func TestMigrationChainsExistingEvents(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	ctx := t.Context()
	require.NoError(t, postgres.MigrateTo(ctx, pool, 1))
	for s, n := range map[string]int{"old-a": 3, "old-b": 1} {
		for v := 1; v <= n; v++ {
			_, err := pool.Exec(ctx, `INSERT INTO eventstore_streams (stream_id, version) VALUES ($1, $2)
				ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version`, s, v)
			require.NoError(t, err)
			_, err = pool.Exec(ctx, `INSERT INTO eventstore_events (event_id, stream_id, version, tx_index, type, data, metadata)
				VALUES ($1, $2, $3, 0, 'test.old', $4, '{"actor":"admin","occurred_at":"2025-01-01T00:00:00Z"}')`,
				uuid.New(), s, v, []byte(fmt.Sprintf(`{"v":%d}`, v)))
			require.NoError(t, err)
		}
	}
	require.NoError(t, postgres.Migrate(ctx, pool))
	store := postgres.New(pool)
	require.NoError(t, store.Ping(ctx))
	_, err := store.Append(ctx, "old-a", eventstore.Exact(3), metaEvent("test.new", `{}`))
	require.NoError(t, err)
	requireChain(t, pool, "old-a", 4)
	requireChain(t, pool, "old-b", 1)
	report, err := store.Verify(ctx, eventstore.VerifyOptions{})
	require.NoError(t, err)
	require.True(t, report.OK(), "%+v", report.Broken)
}

// TestReadFiltered: the filtered read selects by stream and type, pages in
// global order with after, and holds back events of transactions still
// running, like ReadAll.
func TestReadFiltered(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	var all []eventstore.RecordedEvent
	for i := range 30 {
		stream := fmt.Sprintf("f-%d", i%3)
		typ := []string{"t.a", "t.b"}[i%2]
		_, err := b.store.Append(ctx, stream, eventstore.Any{}, metaEvent(typ, fmt.Sprintf(`{"i":%d}`, i)))
		require.NoError(t, err)
	}
	all = readAllEventually(t, b.store, 30)

	pick := func(f eventstore.Filter) []eventstore.RecordedEvent {
		var out []eventstore.RecordedEvent
		for _, e := range all {
			if (len(f.Streams) == 0 || slices.Contains(f.Streams, e.StreamID)) && (len(f.Types) == 0 || slices.Contains(f.Types, e.Type)) {
				out = append(out, e)
			}
		}
		return out
	}
	for _, f := range []eventstore.Filter{
		{},
		{Streams: []string{"f-1"}},
		{Streams: []string{"f-0", "f-2", "f-0"}},
		{Types: []string{"t.b"}},
		{Streams: []string{"f-1", "nope"}, Types: []string{"t.a"}},
		{Streams: []string{"nope"}},
	} {
		want := pick(f)
		// In pages of 4, through the store and through the fallback of a
		// store without FilteredReader.
		for name, s := range map[string]eventstore.Store{"store": b.store, "fallback": plainStore{b.store}} {
			var got []eventstore.RecordedEvent
			var after eventstore.Position
			for {
				page, err := eventstore.ReadFiltered(ctx, s, after, 4, f)
				require.NoError(t, err)
				require.LessOrEqual(t, len(page), 4)
				got = append(got, page...)
				if len(page) < 4 {
					break
				}
				after = page[len(page)-1].Position
			}
			require.Equal(t, ids(want), ids(got), "%s %+v", name, f)
			if len(got) > 0 {
				require.Equal(t, want[0].Hash, got[0].Hash)
			}
		}
	}

	// An event of a transaction still running holds back later ones.
	tx, heldID := insertHeld(t, b.pool, "f-held")
	_, err := b.store.Append(ctx, "f-1", eventstore.Any{}, metaEvent("t.a", `{"late":true}`))
	require.NoError(t, err)
	got, err := b.store.ReadFiltered(ctx, all[len(all)-1].Position, 10, eventstore.Filter{Streams: []string{"f-1", "f-held"}})
	require.NoError(t, err)
	require.Empty(t, got, "held back behind the running transaction")
	require.NoError(t, tx.Commit(ctx))
	require.Eventually(t, func() bool {
		got, err = b.store.ReadFiltered(ctx, all[len(all)-1].Position, 10, eventstore.Filter{Streams: []string{"f-1", "f-held"}})
		return err == nil && len(got) == 2
	}, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, heldID, got[0].ID)
}

// plainStore hides the store's optional interfaces, as a decorator that
// does not implement them would.
type plainStore struct{ eventstore.Store }

func ids(evs []eventstore.RecordedEvent) []uuid.UUID {
	out := make([]uuid.UUID, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

// BenchmarkVerify fills a database with SUBSD_BENCH_EVENTS events (default
// 20,000; the figure worth quoting comes from 1,000,000) and verifies every
// hash chain, reporting events per second. Two layouts: Batched is fill's
// (1,000 streams, appended 1,000 events at a time, so a stream's events lie
// together in the table); Interleaved appends 10 events at a time to
// streams of 100 events each, round-robin over all streams, so a stream's
// events are spread over the table like a customer's over months of
// traffic.
//
//	SUBSD_BENCH_EVENTS=1000000 go test ./eventstore/postgres -run '^$' -bench Verify -benchtime 3x -timeout 60m
func BenchmarkVerify(b *testing.B) {
	n := benchEvents(b)
	b.Run("Batched", func(b *testing.B) {
		pool := pgtest.NewPool(b)
		require.NoError(b, postgres.Migrate(b.Context(), pool))
		store := postgres.New(pool)
		fill(b, store, n)
		benchmarkVerify(b, pool, store, n)
	})
	b.Run("Interleaved", func(b *testing.B) {
		pool := pgtest.NewPool(b)
		require.NoError(b, postgres.Migrate(b.Context(), pool))
		store := postgres.New(pool)
		fillInterleaved(b, store, n)
		benchmarkVerify(b, pool, store, n)
	})
}

func benchmarkVerify(b *testing.B, pool *pgxpool.Pool, store *postgres.Store, n int) {
	_, err := pool.Exec(b.Context(), `VACUUM ANALYZE eventstore_events`)
	require.NoError(b, err)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		report, err := store.Verify(b.Context(), eventstore.VerifyOptions{})
		require.NoError(b, err)
		require.True(b, report.OK())
		require.Equal(b, int64(n), report.Events)
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "events/s")
}

// fillInterleaved appends n events, 10 per append, to n/100 streams in
// turn, from 2 writers.
func fillInterleaved(b *testing.B, store *postgres.Store, n int) {
	b.Helper()
	start := time.Now()
	const per = 10
	streams := max(1, n/100)
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make(chan error, 2)
	)
	for range 2 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i*per >= n {
					return
				}
				evs := make([]eventstore.EventData, min(per, n-i*per))
				for j := range evs {
					evs[j] = benchEvent()
				}
				if _, err := store.Append(b.Context(), fmt.Sprintf("inter-%d", i%streams), eventstore.Any{}, evs...); err != nil {
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
