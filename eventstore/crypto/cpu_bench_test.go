package crypto

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/eventstore"
)

// The CPU the decorator adds per event, with the customer's key and stream
// already known (the steady state: the first append of a customer or a
// stream costs one round trip more, to make the key and record the
// stream). BenchmarkAppend (bench_test.go) measures the effect on append
// throughput against the real database; these isolate the decorator's own
// work, which that comparison's noise can hide.

// cpuBenchData is a customer.details_changed with ten personal values, as
// in BenchmarkAppend.
var cpuBenchData = []byte(`{"customer_id":"cus_bench0123456","first_name":"Annabel","last_name":"Quist-1",` +
	`"email":"annabel.quist@example.org","phone":"+31612345678",` +
	`"address":{"street":"Prinsengracht 263","zipcode":"1016 GV","city":"Amsterdam","country":"NL"},` +
	`"shipping_address":{"street":"Stationsplein 10","zipcode":"3511 ED","city":"Utrecht","country":"NL"},` +
	`"changed_at":"2026-11-21T10:00:00Z"}`)

// warmStore returns a Store whose cache knows the benchmark customer's key
// and stream, so that no database is needed.
func warmStore(b *testing.B) *Store {
	b.Helper()
	s, err := New(nil, nil, make([]byte, MasterKeySize))
	require.NoError(b, err)
	key := make([]byte, 32)
	aead, err := newAEAD(key)
	require.NoError(b, err)
	s.keys.keys["cus_bench0123456"] = &dataKey{aead: aead, fetched: time.Now().Add(time.Hour)}
	s.keys.streams["customer-cus_bench0123456"] = "cus_bench0123456"
	return s
}

func BenchmarkEncryptEvent(b *testing.B) {
	s := warmStore(b)
	ev := eventstore.EventData{ID: uuid.New(), Type: "customer.details_changed", Data: cpuBenchData}
	b.ReportAllocs()
	for b.Loop() {
		out, err := s.encrypt(b.Context(), "customer-cus_bench0123456", []eventstore.EventData{ev})
		if err != nil || len(out) != 1 {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecryptEvent(b *testing.B) {
	s := warmStore(b)
	ev := eventstore.EventData{ID: uuid.New(), Type: "customer.details_changed", Data: cpuBenchData}
	out, err := s.encrypt(b.Context(), "customer-cus_bench0123456", []eventstore.EventData{ev})
	require.NoError(b, err)
	stored := out[0].Data
	b.ReportAllocs()
	for b.Loop() {
		events := []eventstore.RecordedEvent{{ID: ev.ID, StreamID: "customer-cus_bench0123456", Type: ev.Type, Data: stored}}
		if err := s.decrypt(b.Context(), events); err != nil {
			b.Fatal(err)
		}
	}
	events := []eventstore.RecordedEvent{{ID: ev.ID, StreamID: "customer-cus_bench0123456", Type: ev.Type, Data: stored}}
	require.NoError(b, s.decrypt(b.Context(), events))
	require.JSONEq(b, string(cpuBenchData), string(events[0].Data))
	require.True(b, json.Valid(stored))
}

// BenchmarkPassThrough is an event with no personal field: what the
// decorator costs everything else.
func BenchmarkPassThrough(b *testing.B) {
	s := warmStore(b)
	ev := eventstore.EventData{ID: uuid.New(), Type: "subscription.paused",
		Data: []byte(`{"subscription_id":"sub_1","customer_id":"cus_bench0123456","paused_at":"2026-11-21T10:00:00Z"}`)}
	s.keys.streams["subscription-sub_1"] = "cus_bench0123456"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.encrypt(b.Context(), "subscription-sub_1", []eventstore.EventData{ev}); err != nil {
			b.Fatal(err)
		}
	}
}
