package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/eventstore"
)

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestExpectedRevision(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct {
		name     string
		expected eventstore.ExpectedVersion
		want     esdbclient.ExpectedRevision
	}{
		{"any", eventstore.Any{}, esdbclient.Any{}},
		{"no stream", eventstore.NoStream{}, esdbclient.NoStream{}},
		{"exact 0 is no stream", eventstore.Exact(0), esdbclient.NoStream{}},
		{"exact 1 is revision 0", eventstore.Exact(1), esdbclient.Revision(0)},
		{"exact 42 is revision 41", eventstore.Exact(42), esdbclient.Revision(41)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := expectedRevision(tc.expected)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}

	t.Run("nil", func(t *testing.T) {
		t.Parallel()
		_, err := expectedRevision(nil)
		require.ErrorIs(t, err, eventstore.ErrInvalidAppend)
	})
}

func TestMetadataRoundTrip(t *testing.T) {
	t.Parallel()

	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	m := eventstore.Metadata{
		Actor:         "admin:alice",
		CorrelationID: "req-1",
		CausationID:   "evt-0",
		OccurredAt:    time.Date(2024, 2, 29, 23, 30, 0, 123456789, paris),
	}

	b, err := encodeMetadata(m)
	require.NoError(t, err)
	require.JSONEq(t, `{
		"actor": "admin:alice",
		"correlation_id": "req-1",
		"causation_id": "evt-0",
		"occurred_at": "2024-02-29T23:30:00.123456789+01:00"
	}`, string(b))

	got, err := decodeMetadata(b)
	require.NoError(t, err)
	require.True(t, m.OccurredAt.Equal(got.OccurredAt), "occurred_at %v, want %v", got.OccurredAt, m.OccurredAt)
	require.Equal(t, time.UTC, got.OccurredAt.Location())
	got.OccurredAt, m.OccurredAt = time.Time{}, time.Time{}
	require.Equal(t, m, got)

	t.Run("zero", func(t *testing.T) {
		t.Parallel()
		b, err := encodeMetadata(eventstore.Metadata{})
		require.NoError(t, err)
		require.JSONEq(t, `{}`, string(b))
		got, err := decodeMetadata(b)
		require.NoError(t, err)
		require.Equal(t, eventstore.Metadata{}, got)
	})

	t.Run("written by another tool", func(t *testing.T) {
		t.Parallel()
		got, err := decodeMetadata(nil)
		require.NoError(t, err)
		require.Equal(t, eventstore.Metadata{}, got)

		_, err = decodeMetadata([]byte("not json"))
		require.Error(t, err)
	})
}

func TestMapError(t *testing.T) {
	t.Parallel()

	t.Run("wrong expected version", func(t *testing.T) {
		t.Parallel()
		cause := errors.New("wrong expected version: expecting '0' but got '3'")
		err := mapCode(esdbclient.ErrorCodeWrongExpectedVersion, cause)
		require.ErrorIs(t, err, eventstore.ErrWrongExpectedVersion)
		require.ErrorIs(t, err, cause)
	})

	t.Run("other codes pass through", func(t *testing.T) {
		t.Parallel()
		for _, code := range []esdbclient.ErrorCode{
			esdbclient.ErrorCodeUnknown,
			esdbclient.ErrorCodeResourceNotFound,
			esdbclient.ErrorCodeStreamDeleted,
			esdbclient.ErrorUnavailable,
		} {
			cause := errors.New("boom")
			require.Same(t, cause, mapCode(code, cause))
		}
	})

	t.Run("a real client error", func(t *testing.T) {
		t.Parallel()
		// A closed client answers every call with a genuine *esdb.Error,
		// which shows that mapError finds the code through wrapping.
		s := closedStore(t)
		_, err := s.client.AppendToStream(context.Background(), "s", esdbclient.AppendToStreamOptions{},
			esdbclient.EventData{EventID: uuid.New(), EventType: "t", ContentType: esdbclient.ContentTypeJson, Data: []byte(`{}`)})
		require.True(t, isCode(err, esdbclient.ErrorCodeConnectionClosed), "%v", err)
		wrapped := mapError(errors.Join(errors.New("context"), err))
		require.NotErrorIs(t, wrapped, eventstore.ErrWrongExpectedVersion)
		var esErr *esdbclient.Error
		require.ErrorAs(t, wrapped, &esErr)
		require.Equal(t, esdbclient.ErrorCodeConnectionClosed, esErr.Code())
	})

	t.Run("not a client error", func(t *testing.T) {
		t.Parallel()
		err := errors.New("plain")
		require.Same(t, err, mapError(err))
	})
}

func TestValidateAppend(t *testing.T) {
	t.Parallel()

	ok := eventstore.EventData{ID: uuid.New(), Type: "subscription.started", Data: []byte(`{"a":1}`)}
	with := func(f func(*eventstore.EventData)) []eventstore.EventData {
		e := ok
		f(&e)
		return []eventstore.EventData{ok, e}
	}
	require.NoError(t, validateAppend("subscription-1", []eventstore.EventData{ok}))

	for name, tc := range map[string]struct {
		stream string
		events []eventstore.EventData
	}{
		"no events":     {"subscription-1", nil},
		"empty stream":  {"", []eventstore.EventData{ok}},
		"system stream": {"$ce-subscription", []eventstore.EventData{ok}},
		"empty type":    {"subscription-1", with(func(e *eventstore.EventData) { e.Type = "" })},
		"system type":   {"subscription-1", with(func(e *eventstore.EventData) { e.Type = "$metadata" })},
		"nil id":        {"subscription-1", with(func(e *eventstore.EventData) { e.ID = uuid.Nil })},
		"data not json": {"subscription-1", with(func(e *eventstore.EventData) { e.Data = []byte("{") })},
		"no data":       {"subscription-1", with(func(e *eventstore.EventData) { e.Data = nil })},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			require.ErrorIs(t, validateAppend(tc.stream, tc.events), eventstore.ErrInvalidAppend)
		})
	}
}

func TestRecorded(t *testing.T) {
	t.Parallel()

	s := &Store{namespace: "ns-"}
	id := uuid.New()
	created := time.Date(2025, 1, 2, 3, 4, 5, 600, time.UTC)
	meta, err := encodeMetadata(eventstore.Metadata{Actor: "stripe", CorrelationID: "c"})
	require.NoError(t, err)

	got, err := s.recorded(&esdbclient.RecordedEvent{
		EventID:      id,
		EventType:    "payment.captured",
		ContentType:  "application/json",
		StreamID:     "ns-payment-7",
		EventNumber:  0,
		Position:     esdbclient.Position{Commit: 1788, Prepare: 1790},
		CreatedDate:  created,
		Data:         []byte(`{"amount":100}`),
		UserMetadata: meta,
	})
	require.NoError(t, err)
	require.Equal(t, eventstore.RecordedEvent{
		ID:         id,
		StreamID:   "payment-7",
		Version:    1,
		Position:   eventstore.Position{Major: 1788, Minor: 1790},
		Type:       "payment.captured",
		Data:       []byte(`{"amount":100}`),
		Metadata:   eventstore.Metadata{Actor: "stripe", CorrelationID: "c"},
		RecordedAt: created,
	}, got)

	_, err = s.recorded(&esdbclient.RecordedEvent{StreamID: "ns-x", UserMetadata: []byte("garbage")})
	require.Error(t, err)
}

func TestVisible(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct {
		name      string
		store     *Store
		stream    string
		eventType string
		want      string
		ok        bool
	}{
		{"user event", &Store{}, "subscription-1", "subscription.started", "subscription-1", true},
		{"system type", &Store{}, "subscription-1", "$metadata", "", false},
		{"system stream", &Store{}, "$ce-subscription", "subscription.started", "", false},
		{"link", &Store{}, "$et-x", "$>", "", false},
		{"in prefix", &Store{prefixes: []string{"shipment-", "subscription-"}}, "subscription-1", "t", "subscription-1", true},
		{"outside prefixes", &Store{prefixes: []string{"shipment-"}}, "subscription-1", "t", "", false},
		{"in namespace", &Store{namespace: "ns-"}, "ns-subscription-1", "t", "subscription-1", true},
		{"outside namespace", &Store{namespace: "ns-"}, "other-subscription-1", "t", "", false},
		{"namespace itself", &Store{namespace: "ns-"}, "ns-", "t", "", false},
		{"namespace and prefix", &Store{namespace: "ns-", prefixes: []string{"shipment-"}}, "ns-shipment-1", "t", "shipment-1", true},
		{"namespace, other prefix", &Store{namespace: "ns-", prefixes: []string{"shipment-"}}, "ns-payment-1", "t", "", false},
		{"prefix without namespace", &Store{namespace: "ns-", prefixes: []string{"shipment-"}}, "shipment-1", "t", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, ok := tc.store.visible(tc.stream, tc.eventType)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestSubscriptionFilter(t *testing.T) {
	t.Parallel()

	require.Equal(t, esdbclient.ExcludeSystemEventsFilter(), (&Store{}).subscriptionFilter())
	require.Equal(t,
		&esdbclient.SubscriptionFilter{Type: esdbclient.StreamFilterType, Prefixes: []string{"ns-"}},
		(&Store{namespace: "ns-"}).subscriptionFilter())
	require.Equal(t,
		&esdbclient.SubscriptionFilter{Type: esdbclient.StreamFilterType, Prefixes: []string{"ns-shipment-", "ns-payment-"}},
		(&Store{namespace: "ns-", prefixes: []string{"shipment-", "payment-"}}).subscriptionFilter())
}

func TestPositions(t *testing.T) {
	t.Parallel()

	// Subscriptions default to the end of $all: Start must be explicit.
	require.Equal(t, esdbclient.AllPosition(esdbclient.Start{}), allPosition(eventstore.Start))
	require.Equal(t, esdbclient.AllPosition(esdbclient.Position{Commit: 10, Prepare: 9}), allPosition(eventstore.Position{Major: 10, Minor: 9}))
	require.Equal(t, eventstore.Position{Major: 10, Minor: 9}, position(esdbclient.Position{Commit: 10, Prepare: 9}))

	require.True(t, isAfter(eventstore.Start, eventstore.Start))
	require.True(t, isAfter(eventstore.Position{Major: 5, Minor: 5}, eventstore.Start))
	require.True(t, isAfter(eventstore.Position{Major: 5, Minor: 6}, eventstore.Position{Major: 5, Minor: 5}))
	require.False(t, isAfter(eventstore.Position{Major: 5, Minor: 5}, eventstore.Position{Major: 5, Minor: 5}))
	require.False(t, isAfter(eventstore.Position{Major: 4, Minor: 9}, eventstore.Position{Major: 5, Minor: 5}))
}

func TestSubscribeClosedStore(t *testing.T) {
	t.Parallel()

	s := closedStore(t)
	done := make(chan error, 1)
	go func() {
		done <- s.Subscribe(context.Background(), eventstore.Start, func(context.Context, eventstore.RecordedEvent) error {
			return errors.New("no event expected")
		})
	}()
	select {
	case err := <-done:
		require.True(t, isCode(err, esdbclient.ErrorCodeConnectionClosed), "%v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Subscribe on a closed store did not return")
	}
}

func TestSubscribeResubscribesUntilCancelled(t *testing.T) {
	t.Parallel()

	// Nothing listens on port 1, so every subscription attempt fails: the
	// loop must keep retrying with backoff and still honour ctx.
	s := unreachableStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	err := s.Subscribe(ctx, eventstore.Position{Major: 10, Minor: 10}, func(context.Context, eventstore.RecordedEvent) error {
		return errors.New("no event expected")
	})
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestBackoff(t *testing.T) {
	t.Parallel()

	b := backoff{initial: 100 * time.Millisecond, max: time.Second}
	d := b.initial
	var got []time.Duration
	for range 6 {
		got = append(got, d)
		d = b.next(d)
	}
	require.Equal(t, []time.Duration{100, 200, 400, 800, 1000, 1000}, millis(got))
}

func millis(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d / time.Millisecond
	}
	return out
}

// unreachableStore is a Store whose client points at a port nobody listens on.
func unreachableStore(t *testing.T) *Store {
	t.Helper()
	cfg, err := esdbclient.ParseConnectionString("esdb://127.0.0.1:1?tls=false")
	require.NoError(t, err)
	cfg.Logger = slogLogging(discardLogger())
	client, err := esdbclient.NewClient(cfg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	return &Store{client: client, logger: discardLogger(), retry: backoff{initial: 10 * time.Millisecond, max: 50 * time.Millisecond}}
}

// closedStore is a Store whose client has been closed.
func closedStore(t *testing.T) *Store {
	t.Helper()
	s := unreachableStore(t)
	require.NoError(t, s.Close())
	return s
}

func TestEncodeMetadataIsJSON(t *testing.T) {
	t.Parallel()
	b, err := encodeMetadata(eventstore.Metadata{Actor: `quote " and \ slash`})
	require.NoError(t, err)
	require.True(t, json.Valid(b))
}
