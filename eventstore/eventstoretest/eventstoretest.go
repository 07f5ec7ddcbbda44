// Package eventstoretest is the contract every eventstore.Store must pass:
// the executable form of the eventstore package's doc comments. Each adapter's
// tests call TestStore with a constructor for its store.
//
// The suite shares the store it is given with other tests, possibly with other
// processes (an EventStoreDB server is shared): every subtest writes to
// streams under a random prefix of its own and ignores every other event it
// reads through ReadAll or Subscribe.
package eventstoretest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/eventstore"
)

// TestStore runs the contract suite against the stores newStore returns.
// newStore is called once per subtest and may return the same store every
// time; subtests run in parallel.
func TestStore(t *testing.T, newStore func(t *testing.T) eventstore.Store) {
	tests := []struct {
		name string
		test func(t *testing.T, b *bundle)
	}{
		{"AppendNoStreamCreatesStream", testAppendNoStream},
		{"AppendExactAndAny", testAppendExactAndAny},
		{"WrongExpectedVersion", testWrongExpectedVersion},
		{"InvalidAppend", testInvalidAppend},
		{"ConcurrentAppendersOneWins", testConcurrentAppendersOneWins},
		{"IdempotentReappend", testIdempotentReappend},
		{"ReadStreamFromWithLimit", testReadStreamFromWithLimit},
		{"ReadMissingStream", testReadMissingStream},
		{"ReadAllGlobalOrder", testReadAllGlobalOrder},
		{"RoundTrip", testRoundTrip},
		{"SubscribeCatchUpThenLive", testSubscribeCatchUpThenLive},
		{"SubscribeResumeFromCheckpoint", testSubscribeResume},
		{"SubscribeWakesQuicklyWhenIdle", testSubscribeWakesQuickly},
		{"StressConcurrentWritersAndSubscriber", testStress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, setup(t, newStore))
		})
	}
}

// bundle is what each subtest works with.
type bundle struct {
	store eventstore.Store
	// prefix starts every stream name the subtest uses.
	prefix string
	ctx    context.Context
}

func setup(t *testing.T, newStore func(t *testing.T) eventstore.Store) *bundle {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &bundle{
		store:  newStore(t),
		prefix: "contract_" + hex.EncodeToString(b[:]) + "_",
		ctx:    t.Context(),
	}
}

// stream names a stream of this subtest.
func (b *bundle) stream(name string) string { return b.prefix + name }

// ours reports whether an event belongs to this subtest.
func (b *bundle) ours(e eventstore.RecordedEvent) bool {
	return strings.HasPrefix(e.StreamID, b.prefix)
}

// event returns a new event with a fresh id and small JSON data.
func event(typ string, n int) eventstore.EventData {
	return eventstore.EventData{
		ID:   uuid.New(),
		Type: typ,
		Data: fmt.Appendf(nil, `{"n":%d}`, n),
	}
}

func events(n int) []eventstore.EventData {
	evs := make([]eventstore.EventData, n)
	for i := range evs {
		evs[i] = event("contract.happened", i)
	}
	return evs
}

func ids(evs []eventstore.EventData) []uuid.UUID {
	out := make([]uuid.UUID, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func recordedIDs(evs []eventstore.RecordedEvent) []uuid.UUID {
	out := make([]uuid.UUID, len(evs))
	for i, e := range evs {
		out[i] = e.ID
	}
	return out
}

func versions(evs []eventstore.RecordedEvent) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Version
	}
	return out
}

// marker appends one event to a stream of its own and returns its position:
// every event the subtest appends afterwards comes after it in the global
// order, so ReadAll and Subscribe can start there rather than at the start of
// a shared store.
func (b *bundle) marker(t *testing.T) eventstore.Position {
	t.Helper()
	res, err := b.store.Append(b.ctx, b.stream("marker"), eventstore.NoStream{}, event("contract.marker", 0))
	require.NoError(t, err)
	return res.Position
}

// readAllOurs reads the global order after position after, keeping this
// subtest's events, until it has want of them. A store may hold events back
// until their place in the order is final, so it retries for a while.
func (b *bundle) readAllOurs(t *testing.T, after eventstore.Position, want int) []eventstore.RecordedEvent {
	t.Helper()
	var got []eventstore.RecordedEvent
	deadline := time.Now().Add(10 * time.Second)
	pos := after
	for len(got) < want {
		page, err := b.store.ReadAll(b.ctx, pos, 100)
		require.NoError(t, err)
		for _, e := range page {
			require.True(t, pos.Less(e.Position), "ReadAll returned %s after %s", e.Position, pos)
			pos = e.Position
			if b.ours(e) {
				got = append(got, e)
			}
		}
		if len(page) == 0 {
			require.True(t, time.Now().Before(deadline), "ReadAll returned %d of our %d events", len(got), want)
			time.Sleep(5 * time.Millisecond)
		}
	}
	return got
}

func testAppendNoStream(t *testing.T, b *bundle) {
	s := b.stream("order")
	evs := events(3)

	res, err := b.store.Append(b.ctx, s, eventstore.NoStream{}, evs...)
	require.NoError(t, err)
	require.Equal(t, uint64(3), res.Version)

	got, err := b.store.ReadStream(b.ctx, s, 0, 10)
	require.NoError(t, err)
	require.Equal(t, ids(evs), recordedIDs(got))
	require.Equal(t, []uint64{1, 2, 3}, versions(got))
	require.Equal(t, res.Position, got[2].Position, "the result's position is the last event's")
	for i := 1; i < len(got); i++ {
		require.True(t, got[i-1].Position.Less(got[i].Position), "positions of one append increase")
	}

	// One more with NoStream on a stream of one event.
	s2 := b.stream("single")
	res, err = b.store.Append(b.ctx, s2, eventstore.NoStream{}, event("contract.happened", 0))
	require.NoError(t, err)
	require.Equal(t, uint64(1), res.Version)
}

func testAppendExactAndAny(t *testing.T, b *bundle) {
	s := b.stream("exact")

	res, err := b.store.Append(b.ctx, s, eventstore.Exact(0), events(2)...)
	require.NoError(t, err, "Exact(0) creates a stream like NoStream")
	require.Equal(t, uint64(2), res.Version)

	res2, err := b.store.Append(b.ctx, s, eventstore.Exact(2), events(1)...)
	require.NoError(t, err)
	require.Equal(t, uint64(3), res2.Version)
	require.True(t, res.Position.Less(res2.Position))

	res3, err := b.store.Append(b.ctx, s, eventstore.Any{}, events(2)...)
	require.NoError(t, err)
	require.Equal(t, uint64(5), res3.Version)

	res4, err := b.store.Append(b.ctx, s, eventstore.Exact(5), events(1)...)
	require.NoError(t, err)
	require.Equal(t, uint64(6), res4.Version)

	got, err := b.store.ReadStream(b.ctx, s, 1, 100)
	require.NoError(t, err)
	require.Equal(t, []uint64{1, 2, 3, 4, 5, 6}, versions(got))

	// Any creates a stream too.
	res5, err := b.store.Append(b.ctx, b.stream("any"), eventstore.Any{}, events(1)...)
	require.NoError(t, err)
	require.Equal(t, uint64(1), res5.Version)
}

func testWrongExpectedVersion(t *testing.T, b *bundle) {
	s := b.stream("taken")
	_, err := b.store.Append(b.ctx, s, eventstore.NoStream{}, events(2)...)
	require.NoError(t, err)

	cases := []struct {
		name     string
		stream   string
		expected eventstore.ExpectedVersion
	}{
		{"NoStreamOnExisting", s, eventstore.NoStream{}},
		{"ExactZeroOnExisting", s, eventstore.Exact(0)},
		{"ExactStale", s, eventstore.Exact(1)},
		{"ExactAhead", s, eventstore.Exact(3)},
		{"ExactOnMissing", b.stream("missing"), eventstore.Exact(1)},
	}
	for _, c := range cases {
		_, err := b.store.Append(b.ctx, c.stream, c.expected, events(1)...)
		require.ErrorIs(t, err, eventstore.ErrWrongExpectedVersion, c.name)
	}

	got, err := b.store.ReadStream(b.ctx, s, 0, 100)
	require.NoError(t, err)
	require.Len(t, got, 2, "failed appends appended nothing")
	got, err = b.store.ReadStream(b.ctx, b.stream("missing"), 0, 100)
	require.NoError(t, err)
	require.Empty(t, got)
}

func testInvalidAppend(t *testing.T, b *bundle) {
	s := b.stream("invalid")
	nilID := event("contract.happened", 0)
	nilID.ID = uuid.Nil
	noType := event("", 0)
	notJSON := event("contract.happened", 0)
	notJSON.Data = []byte(`{"n":`)
	noData := event("contract.happened", 0)
	noData.Data = nil

	cases := []struct {
		name   string
		stream string
		events []eventstore.EventData
	}{
		{"NoEvents", s, nil},
		{"EmptyStream", "", events(1)},
		{"NilID", s, []eventstore.EventData{nilID}},
		{"EmptyType", s, []eventstore.EventData{noType}},
		{"DataNotJSON", s, []eventstore.EventData{notJSON}},
		{"NoData", s, []eventstore.EventData{noData}},
		{"OneBadEventInMany", s, []eventstore.EventData{event("contract.happened", 1), notJSON}},
	}
	for _, c := range cases {
		_, err := b.store.Append(b.ctx, c.stream, eventstore.Any{}, c.events...)
		require.ErrorIs(t, err, eventstore.ErrInvalidAppend, c.name)
	}
	got, err := b.store.ReadStream(b.ctx, s, 0, 100)
	require.NoError(t, err)
	require.Empty(t, got)
}

func testConcurrentAppendersOneWins(t *testing.T, b *bundle) {
	const appenders = 8
	race := func(stream string, expected eventstore.ExpectedVersion) (wins, conflicts int) {
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			other []error
			start = make(chan struct{})
		)
		for range appenders {
			wg.Go(func() {
				<-start
				_, err := b.store.Append(b.ctx, stream, expected, events(2)...)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					wins++
				case errors.Is(err, eventstore.ErrWrongExpectedVersion):
					conflicts++
				default:
					other = append(other, err)
				}
			})
		}
		close(start)
		wg.Wait()
		require.Empty(t, other)
		return wins, conflicts
	}

	s := b.stream("contended")
	wins, conflicts := race(s, eventstore.NoStream{})
	require.Equal(t, 1, wins, "exactly one creator wins")
	require.Equal(t, appenders-1, conflicts)

	wins, conflicts = race(s, eventstore.Exact(2))
	require.Equal(t, 1, wins, "exactly one appender at version 2 wins")
	require.Equal(t, appenders-1, conflicts)

	got, err := b.store.ReadStream(b.ctx, s, 0, 100)
	require.NoError(t, err)
	require.Equal(t, []uint64{1, 2, 3, 4}, versions(got))
}

func testIdempotentReappend(t *testing.T, b *bundle) {
	s := b.stream("retried")
	first := events(2)
	res, err := b.store.Append(b.ctx, s, eventstore.NoStream{}, first...)
	require.NoError(t, err)

	for _, expected := range []eventstore.ExpectedVersion{eventstore.NoStream{}, eventstore.Exact(0), eventstore.Any{}} {
		again, err := b.store.Append(b.ctx, s, expected, first...)
		require.NoError(t, err, "re-append with %#v", expected)
		require.Equal(t, res, again, "re-append returns the original result")
	}

	// The stream moves on; a late retry of the first append still succeeds
	// with its original result.
	next := events(1)
	res2, err := b.store.Append(b.ctx, s, eventstore.Exact(2), next...)
	require.NoError(t, err)
	again, err := b.store.Append(b.ctx, s, eventstore.NoStream{}, first...)
	require.NoError(t, err)
	require.Equal(t, res, again)
	again, err = b.store.Append(b.ctx, s, eventstore.Exact(2), next...)
	require.NoError(t, err)
	require.Equal(t, res2, again)

	// Only part of an earlier append, with new events: not a retry.
	_, err = b.store.Append(b.ctx, s, eventstore.Exact(1), first[1], event("contract.happened", 9))
	require.ErrorIs(t, err, eventstore.ErrWrongExpectedVersion)

	got, err := b.store.ReadStream(b.ctx, s, 0, 100)
	require.NoError(t, err)
	require.Equal(t, append(ids(first), next[0].ID), recordedIDs(got), "retries appended nothing")
}

func testReadStreamFromWithLimit(t *testing.T, b *bundle) {
	s := b.stream("paged")
	evs := events(10)
	_, err := b.store.Append(b.ctx, s, eventstore.NoStream{}, evs[:4]...)
	require.NoError(t, err)
	_, err = b.store.Append(b.ctx, s, eventstore.Exact(4), evs[4:]...)
	require.NoError(t, err)

	cases := []struct {
		from  uint64
		limit int
		want  []uint64
	}{
		{0, 3, []uint64{1, 2, 3}},
		{1, 100, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{4, 3, []uint64{4, 5, 6}},
		{9, 10, []uint64{9, 10}},
		{10, 1, []uint64{10}},
		{11, 10, []uint64{}},
	}
	for _, c := range cases {
		got, err := b.store.ReadStream(b.ctx, s, c.from, c.limit)
		require.NoError(t, err)
		require.Equal(t, c.want, versions(got), "from %d limit %d", c.from, c.limit)
		for _, e := range got {
			require.Equal(t, evs[e.Version-1].ID, e.ID)
			require.Equal(t, s, e.StreamID)
		}
	}
}

func testReadMissingStream(t *testing.T, b *bundle) {
	got, err := b.store.ReadStream(b.ctx, b.stream("never-written"), 0, 10)
	require.NoError(t, err)
	require.Empty(t, got)
}

func testReadAllGlobalOrder(t *testing.T, b *bundle) {
	start := b.marker(t)

	// Appends one after another, interleaving three streams: the global
	// order must be the order of the appends.
	var want []uuid.UUID
	var results []eventstore.AppendResult
	for i := range 9 {
		s := b.stream(fmt.Sprintf("s%d", i%3))
		evs := events(1 + i%2)
		res, err := b.store.Append(b.ctx, s, eventstore.Any{}, evs...)
		require.NoError(t, err)
		want = append(want, ids(evs)...)
		results = append(results, res)
	}

	got := b.readAllOurs(t, start, len(want))
	require.Equal(t, want, recordedIDs(got))
	for i := 1; i < len(got); i++ {
		require.True(t, got[i-1].Position.Less(got[i].Position), "positions increase")
	}
	// Each result's position is where its last event is read.
	for i, res := range results {
		at := slices.IndexFunc(got, func(e eventstore.RecordedEvent) bool { return e.Position == res.Position })
		require.GreaterOrEqual(t, at, 0, "append %d: no event at its result's position %s", i, res.Position)
		require.Equal(t, res.Version, got[at].Version, "append %d", i)
	}

	// From a position in the middle: only what comes after it.
	mid := got[4].Position
	rest := b.readAllOurs(t, mid, len(want)-5)
	require.Equal(t, want[5:], recordedIDs(rest))

	// A small limit pages through the same order.
	page, err := b.store.ReadAll(b.ctx, start, 1)
	require.NoError(t, err)
	require.Len(t, page, 1)
}

func testRoundTrip(t *testing.T, b *bundle) {
	s := b.stream("roundtrip")
	occurred := time.Date(2024, 2, 29, 23, 59, 58, 123456000, time.UTC)
	in := eventstore.EventData{
		ID:   uuid.New(),
		Type: "subscription.canceled",
		// Kept byte for byte: spacing, key order and non-ASCII text.
		Data: []byte(`{"z": 1,  "a": [ ], "name": "Zoë \u00e9", "n": 1.50}`),
		Metadata: eventstore.Metadata{
			Actor:         "admin:alice",
			CorrelationID: "req-" + uuid.NewString(),
			CausationID:   uuid.NewString(),
			OccurredAt:    occurred,
		},
	}
	bare := eventstore.EventData{ID: uuid.New(), Type: "subscription.paused", Data: []byte(`null`)}

	before := time.Now()
	res, err := b.store.Append(b.ctx, s, eventstore.NoStream{}, in, bare)
	require.NoError(t, err)
	after := time.Now()

	got, err := b.store.ReadStream(b.ctx, s, 0, 10)
	require.NoError(t, err)
	require.Len(t, got, 2)
	e := got[0]
	require.Equal(t, in.ID, e.ID)
	require.Equal(t, s, e.StreamID)
	require.Equal(t, uint64(1), e.Version)
	require.Equal(t, in.Type, e.Type)
	require.Equal(t, string(in.Data), string(e.Data))
	require.Equal(t, in.Metadata.Actor, e.Metadata.Actor)
	require.Equal(t, in.Metadata.CorrelationID, e.Metadata.CorrelationID)
	require.Equal(t, in.Metadata.CausationID, e.Metadata.CausationID)
	require.True(t, occurred.Equal(e.Metadata.OccurredAt), "occurred at %s, read %s", occurred, e.Metadata.OccurredAt)
	// The store's clock may differ a little from the test's.
	const skew = 5 * time.Second
	require.WithinRange(t, e.RecordedAt, before.Add(-skew), after.Add(skew))

	require.Equal(t, bare.ID, got[1].ID)
	require.Equal(t, "null", string(got[1].Data))
	require.Equal(t, eventstore.Metadata{}, got[1].Metadata)
	require.Equal(t, res.Position, got[1].Position)

	// The global order reads the same events.
	all := b.readAllOurs(t, got[0].Position, 1)
	require.Equal(t, got[1].ID, all[0].ID)
	require.Equal(t, got[1].Position, all[0].Position)
	require.Equal(t, string(got[1].Data), string(all[0].Data))
	require.True(t, got[1].RecordedAt.Equal(all[0].RecordedAt))

	// Metadata survives JSON data that is large, too.
	big := eventstore.EventData{ID: uuid.New(), Type: "contract.big", Data: bigJSON(t, 200_000)}
	_, err = b.store.Append(b.ctx, s, eventstore.Exact(2), big)
	require.NoError(t, err)
	got, err = b.store.ReadStream(b.ctx, s, 3, 1)
	require.NoError(t, err)
	require.Equal(t, big.Data, got[0].Data)
}

func bigJSON(t *testing.T, size int) []byte {
	t.Helper()
	items := make([]string, 0, size/10)
	for i := 0; len(items)*10 < size; i++ {
		items = append(items, fmt.Sprintf("item-%04d", i%10000))
	}
	data, err := json.Marshal(map[string]any{"items": items})
	require.NoError(t, err)
	return data
}

// subscription runs Subscribe in the background and collects this subtest's
// events.
type subscription struct {
	mu     sync.Mutex
	events []eventstore.RecordedEvent
	// arrived is signalled (without blocking) after each event.
	arrived chan struct{}
	cancel  context.CancelFunc
	done    chan error
}

func (b *bundle) subscribe(t *testing.T, after eventstore.Position, stopAfter int) *subscription {
	t.Helper()
	ctx, cancel := context.WithCancel(b.ctx)
	sub := &subscription{arrived: make(chan struct{}, 1), cancel: cancel, done: make(chan error, 1)}
	go func() {
		sub.done <- b.store.Subscribe(ctx, after, func(_ context.Context, e eventstore.RecordedEvent) error {
			if !b.ours(e) {
				return nil
			}
			sub.mu.Lock()
			sub.events = append(sub.events, e)
			n := len(sub.events)
			sub.mu.Unlock()
			select {
			case sub.arrived <- struct{}{}:
			default:
			}
			if n == stopAfter {
				return errStop
			}
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		<-sub.done
	})
	return sub
}

var errStop = errors.New("contract: handler stopped the subscription")

// waitFor waits until the subscription has collected n events and returns
// them.
func (s *subscription) waitFor(t *testing.T, n int, timeout time.Duration) []eventstore.RecordedEvent {
	t.Helper()
	deadline := time.After(timeout)
	for {
		s.mu.Lock()
		got := slices.Clone(s.events)
		s.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-s.arrived:
		case err := <-s.done:
			s.done <- err // for cleanup
			s.mu.Lock()
			got := slices.Clone(s.events)
			s.mu.Unlock()
			if len(got) >= n {
				return got
			}
			require.FailNow(t, "subscription ended early", "after %d of %d events: %v", len(got), n, err)
		case <-deadline:
			require.FailNow(t, "subscription too slow", "%d of %d events after %s", len(got), n, timeout)
		}
	}
}

// stop cancels the subscription and returns what Subscribe returned.
func (s *subscription) stop(t *testing.T) error {
	t.Helper()
	s.cancel()
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(10 * time.Second):
		require.FailNow(t, "Subscribe did not return after its context was canceled")
		return nil
	}
}

func testSubscribeCatchUpThenLive(t *testing.T, b *bundle) {
	start := b.marker(t)
	s := b.stream("live")
	caughtUp := events(5)
	_, err := b.store.Append(b.ctx, s, eventstore.NoStream{}, caughtUp...)
	require.NoError(t, err)

	sub := b.subscribe(t, start, -1)
	got := sub.waitFor(t, 5, 10*time.Second)
	require.Equal(t, ids(caughtUp), recordedIDs(got))

	var live []eventstore.EventData
	for i := range 5 {
		e := event("contract.live", i)
		live = append(live, e)
		_, err := b.store.Append(b.ctx, s, eventstore.Exact(uint64(5+i)), e)
		require.NoError(t, err)
	}
	got = sub.waitFor(t, 10, 10*time.Second)
	require.Equal(t, append(ids(caughtUp), ids(live)...), recordedIDs(got))
	require.Equal(t, []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, versions(got))

	err = sub.stop(t)
	require.ErrorIs(t, err, context.Canceled, "Subscribe returns ctx.Err() when its context ends")

	sub.mu.Lock()
	defer sub.mu.Unlock()
	require.Len(t, sub.events, 10, "no event delivered twice")
}

func testSubscribeResume(t *testing.T, b *bundle) {
	start := b.marker(t)
	s := b.stream("resumed")
	evs := events(10)
	_, err := b.store.Append(b.ctx, s, eventstore.NoStream{}, evs[:6]...)
	require.NoError(t, err)

	// The handler's error ends the subscription after the fourth event;
	// Subscribe returns that error.
	first := b.subscribe(t, start, 4)
	got := first.waitFor(t, 4, 10*time.Second)
	select {
	case err := <-first.done:
		first.done <- err
		require.ErrorIs(t, err, errStop)
	case <-time.After(10 * time.Second):
		require.FailNow(t, "Subscribe did not return the handler's error")
	}
	require.Equal(t, ids(evs[:4]), recordedIDs(got))
	checkpoint := got[3].Position

	// More events while no one is subscribed, then resume from the
	// checkpoint: the rest, once each, in order.
	_, err = b.store.Append(b.ctx, s, eventstore.Exact(6), evs[6:]...)
	require.NoError(t, err)
	second := b.subscribe(t, checkpoint, -1)
	rest := second.waitFor(t, 6, 10*time.Second)
	require.Equal(t, ids(evs[4:]), recordedIDs(rest))

	// Nothing more arrives: no repeats.
	time.Sleep(100 * time.Millisecond)
	second.mu.Lock()
	defer second.mu.Unlock()
	require.Len(t, second.events, 6)
}

func testSubscribeWakesQuickly(t *testing.T, b *bundle) {
	start := b.marker(t)
	s := b.stream("wake")
	sub := b.subscribe(t, start, -1)

	var latencies []time.Duration
	for i := range 5 {
		// Let the subscriber catch up and go idle.
		time.Sleep(150 * time.Millisecond)
		appended := time.Now()
		_, err := b.store.Append(b.ctx, s, eventstore.Exact(uint64(i)), event("contract.wake", i))
		require.NoError(t, err)
		sub.waitFor(t, i+1, 5*time.Second)
		latencies = append(latencies, time.Since(appended))
	}
	slices.Sort(latencies)
	t.Logf("idle subscriber: from calling Append to delivery: median %s, max %s", latencies[len(latencies)/2], latencies[len(latencies)-1])
	// Generous: the point is that an idle subscriber does not wait for a
	// slow poll, not to benchmark.
	require.Less(t, latencies[len(latencies)/2], time.Second)
}

// testStress runs concurrent writers with exact expected versions over a set of
// streams while a subscriber reads, and checks the subscriber saw every event
// exactly once, each stream in version order: a store whose global order can
// skip or reorder committed events fails here.
func testStress(t *testing.T, b *bundle) {
	const (
		writers          = 16
		streams          = 200
		appendsPerWriter = 150
	)
	start := b.marker(t)
	sub := b.subscribe(t, start, -1)

	type written struct {
		stream  string
		version uint64
	}
	var (
		mu      sync.Mutex
		wrote   = make(map[uuid.UUID]written)
		errs    []error
		retries int
		lastPos eventstore.Position // of the last event appended
		wg      sync.WaitGroup
	)
	for w := range writers {
		wg.Go(func() {
			rng := mathrand.New(mathrand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			known := make(map[string]uint64) // this writer's view of each stream's version
			for i := 0; i < appendsPerWriter; i++ {
				s := b.stream(fmt.Sprintf("stress-%03d", rng.IntN(streams)))
				evs := events(1 + rng.IntN(3))
				for {
					res, err := b.store.Append(b.ctx, s, eventstore.Exact(known[s]), evs...)
					if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
						// Someone else appended: catch up and retry.
						got, err := b.store.ReadStream(b.ctx, s, known[s]+1, 10_000)
						if err != nil {
							mu.Lock()
							errs = append(errs, err)
							mu.Unlock()
							return
						}
						if len(got) > 0 {
							known[s] = got[len(got)-1].Version
						}
						mu.Lock()
						retries++
						mu.Unlock()
						continue
					}
					if err != nil {
						mu.Lock()
						errs = append(errs, fmt.Errorf("writer %d: %w", w, err))
						mu.Unlock()
						return
					}
					known[s] = res.Version
					mu.Lock()
					if lastPos.Less(res.Position) {
						lastPos = res.Position
					}
					for j, e := range evs {
						wrote[e.ID] = written{stream: s, version: res.Version - uint64(len(evs)-1-j)}
					}
					mu.Unlock()
					break
				}
			}
		})
	}
	wg.Wait()
	require.Empty(t, errs)
	t.Logf("stress: %d events in %d appends, %d conflicts retried", len(wrote), writers*appendsPerWriter, retries)

	// Wait for the subscriber to deliver everything. Once it has delivered
	// the last appended event, anything still missing was skipped.
	var got []eventstore.RecordedEvent
	deadline := time.Now().Add(30 * time.Second)
	for {
		sub.mu.Lock()
		got = slices.Clone(sub.events)
		sub.mu.Unlock()
		if len(got) >= len(wrote) {
			break
		}
		if len(got) > 0 && !got[len(got)-1].Position.Less(lastPos) {
			require.FailNow(t, "subscriber skipped events", "it delivered the last appended event having delivered %d of %d", len(got), len(wrote))
		}
		require.True(t, time.Now().Before(deadline), "subscriber delivered %d of %d events in 30s", len(got), len(wrote))
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // anything extra would show up as a duplicate
	sub.mu.Lock()
	got = slices.Clone(sub.events)
	sub.mu.Unlock()

	seen := make(map[uuid.UUID]bool, len(got))
	last := make(map[string]uint64)
	for i, e := range got {
		require.False(t, seen[e.ID], "event %s delivered twice", e.ID)
		seen[e.ID] = true
		if i > 0 {
			require.True(t, got[i-1].Position.Less(e.Position), "positions increase")
		}
		w, ok := wrote[e.ID]
		require.True(t, ok, "delivered event %s that no writer recorded", e.ID)
		require.Equal(t, w.stream, e.StreamID)
		require.Equal(t, w.version, e.Version)
		require.Equal(t, last[e.StreamID]+1, e.Version, "stream %s out of version order", e.StreamID)
		last[e.StreamID] = e.Version
	}
	require.Len(t, got, len(wrote), "every written event delivered exactly once")

	// ReadAll gives the same order.
	all := b.readAllOurs(t, start, len(wrote))
	require.Equal(t, recordedIDs(got), recordedIDs(all))
}
