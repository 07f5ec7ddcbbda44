package projections

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/eventstore"
)

// TestCustomerHistoryIsEveryEventOfTheCustomersStreams: for every customer
// of the golden script, the history paged through CustomerHistory is
// exactly the events of the streams whose first event names that customer
// (found here from the raw JSON, not with the projection's code), in
// global order.
func TestCustomerHistoryIsEveryEventOfTheCustomersStreams(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w, _, last := b.loadScript(t)
	b.runProjections(t)
	b.waitLive(t, last)

	var all []eventstore.RecordedEvent
	for pos := eventstore.Start; ; {
		page, err := b.store.ReadAll(b.ctx, pos, 1000)
		require.NoError(t, err)
		if len(page) == 0 {
			break
		}
		all = append(all, page...)
		pos = page[len(page)-1].Position
	}
	owner := map[string]string{}
	for _, e := range all {
		if e.Version != 1 {
			continue
		}
		var d struct {
			CustomerID string `json:"customer_id"`
		}
		require.NoError(t, json.Unmarshal(e.Data, &d))
		owner[e.StreamID] = d.CustomerID
	}

	for _, id := range w.customers {
		var want []uuid.UUID
		for _, e := range all {
			if owner[e.StreamID] == string(id) {
				want = append(want, e.ID)
			}
		}
		var got []uuid.UUID
		after := eventstore.Start
		for {
			page, more, err := b.reader.CustomerHistory(b.ctx, b.store, string(id), after, 7)
			require.NoError(t, err)
			for _, e := range page {
				got = append(got, e.ID)
			}
			if !more {
				break
			}
			require.Len(t, page, 7)
			after = page[len(page)-1].Position
		}
		require.NotEmpty(t, want)
		require.Equal(t, want, got, "history of %s", id)
	}

	_, _, err := b.reader.CustomerHistory(b.ctx, b.store, "cus_unknown", eventstore.Start, 10)
	require.ErrorIs(t, err, ErrNotFound)
	_, _, err = b.reader.CustomerHistory(b.ctx, b.store, "not an id", eventstore.Start, 10)
	require.ErrorIs(t, err, ErrNotFound)
}

// TestCustomerAsOf: as of now, every customer's page is the live page byte
// for byte; as of each moment of its history it shows the customer stream's
// version of that moment; before registration the customer is not found.
func TestCustomerAsOf(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w, events, last := b.loadScript(t)
	b.runProjections(t)
	b.waitLive(t, last)
	now := w.now.Add(36 * time.Hour)
	r := NewReader(b.pool, WithClock(func() time.Time { return now }), WithLocation(w.loc), WithStore(b.store))
	defer r.Close()

	for _, id := range w.customers {
		live, err := r.Customer(b.ctx, string(id))
		require.NoError(t, err)
		asOf, err := r.CustomerAsOf(b.ctx, b.store, string(id), now)
		require.NoError(t, err)
		require.Equal(t, string(live.JSON), string(asOf.JSON), "as_of=now of %s", id)
		require.Equal(t, live.Version, asOf.Version)

		// The customer stream's versions over time.
		stream := customer.Stream(id)
		var moments []time.Time
		for _, e := range events {
			if e.StreamID == stream {
				moments = append(moments, e.Metadata.OccurredAt)
			}
		}
		_, err = r.CustomerAsOf(b.ctx, b.store, string(id), moments[0].Add(-time.Nanosecond))
		require.ErrorIs(t, err, ErrNotFound, "before registration")
		for _, m := range moments {
			want := 0
			for _, e := range events {
				if e.StreamID == stream && !e.Metadata.OccurredAt.After(m) {
					want++
				}
			}
			doc, err := r.CustomerAsOf(b.ctx, b.store, string(id), m)
			require.NoError(t, err)
			var page struct {
				Version int `json:"version"`
			}
			require.NoError(t, json.Unmarshal(doc.JSON, &page))
			require.Equal(t, want, page.Version, "%s as of %s", id, m)
		}
	}
}

// TestCustomerAsOfShowsTheOldValue: a change after T does not show as of T.
func TestCustomerAsOfShowsTheOldValue(t *testing.T) {
	t.Parallel()
	b := setup(t)
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	const address = `"address":{"street":"Keizersgracht 1","zipcode":"1015 CJ","city":"Amsterdam","country":"NL"}`
	appendRaw := func(typ, data string, at time.Time) eventstore.Position {
		t.Helper()
		res, err := b.store.Append(b.ctx, "customer-cus_ann", eventstore.Any{}, eventstore.EventData{
			ID: uuid.New(), Type: typ, Data: []byte(data), Metadata: eventstore.Metadata{Actor: "admin", OccurredAt: at},
		})
		require.NoError(t, err)
		return res.Position
	}
	// The first shape of customer.registered: upcast on every read.
	appendRaw("customer.registered", `{"customer_id":"cus_ann","name":"Ann de Vries","email":"ann@example.com",`+address+`,"registered_at":"2026-03-01T09:00:00Z"}`, t0)
	last := appendRaw("customer.details_changed", `{"customer_id":"cus_ann","email":"ann@vries.example","changed_at":"2026-03-02T09:00:00Z"}`, t0.Add(24*time.Hour))
	b.runProjections(t)
	b.waitLive(t, last)

	before, err := b.reader.CustomerAsOf(b.ctx, b.store, "cus_ann", t0.Add(time.Hour))
	require.NoError(t, err)
	after, err := b.reader.CustomerAsOf(b.ctx, b.store, "cus_ann", t0.Add(25*time.Hour))
	require.NoError(t, err)
	require.Contains(t, string(before.JSON), `"email":"ann@example.com"`)
	require.Contains(t, string(before.JSON), `"first_name":"Ann","last_name":"de Vries"`, "upcast")
	require.Contains(t, string(after.JSON), `"email":"ann@vries.example"`)

	// The history shows the upcast shape too.
	history, _, err := b.reader.CustomerHistory(b.ctx, b.store, "cus_ann", eventstore.Start, 10)
	require.NoError(t, err)
	require.Len(t, history, 2)
	data, err := CurrentData(history[0])
	require.NoError(t, err)
	require.Contains(t, string(data), `"first_name":"Ann"`)
	require.NotContains(t, string(data), `"name"`)
	require.Contains(t, string(history[0].Data), `"name":"Ann de Vries"`, "the stored bytes are unchanged")

	// Data of streams and types no codec knows is shown as stored.
	for _, e := range []eventstore.RecordedEvent{
		{StreamID: "elsewhere-1", Type: "x.y", Data: []byte(`{"a":1}`)},
		{StreamID: "customer-cus_ann", Type: "customer.unheard_of", Data: []byte(`{"a":1}`)},
	} {
		data, err := CurrentData(e)
		require.NoError(t, err)
		require.JSONEq(t, `{"a":1}`, string(data))
	}
	_, err = CurrentData(eventstore.RecordedEvent{StreamID: "customer-cus_ann", Type: "customer.registered", Data: []byte(`{"name":42}`)})
	require.Error(t, err)
	require.False(t, errors.Is(err, ErrNotFound))
}

// TestCustomerStreamsOrder: streams are listed sorted.
func TestCustomerStreamsOrder(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w, _, last := b.loadScript(t)
	b.runProjections(t)
	b.waitLive(t, last)
	streams, err := b.reader.CustomerStreams(b.ctx, string(w.customers[0]))
	require.NoError(t, err)
	require.True(t, slices.IsSorted(streams))
	require.True(t, slices.ContainsFunc(streams, func(s string) bool { return strings.HasPrefix(s, "subscription-") }))
	require.Contains(t, streams, customer.Stream(w.customers[0]))
}
