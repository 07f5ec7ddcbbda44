package postgres

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/eventstore"
)

var metadataSamples = []string{
	`{}`,
	`{"actor":"admin:alice"}`,
	`{"actor":"admin:alice","correlation_id":"req-7","causation_id":"3c5b2a4e-1f7d-4e0a-9b3c-8d2e6f1a7b90","occurred_at":"2024-02-29T23:59:58.123456789Z"}`,
	`{"occurred_at":"2025-03-30T02:30:00+02:00"}`,
	`{"actor":"Zoë"}`,
	`{"actor":"a\"b"}`,
	`{"actor":"a\u00e9"}`,
	`{ "actor" : "spaced" }`,
	`{"actor":"x","extra":1}`,
	`{"actor":"x","actor":"y"}`,
	`{"occurred_at":"not a time"}`,
	`{"occurred_at":null}`,
	`{"actor":"x",}`,
	`{"actor":"x"`,
	`{"actor":}`,
	`null`,
	`[]`,
	"{\"actor\":\"\xff\"}",
	"{\"actor\":\"tab\there\"}",
}

func TestDecodeMetadataAgreesWithJSON(t *testing.T) {
	t.Parallel()
	for _, s := range metadataSamples {
		checkDecodeMetadata(t, []byte(s))
	}
	// And whatever Append writes.
	meta, err := json.Marshal(eventstore.Metadata{
		Actor:         "worker:charge",
		CorrelationID: "c",
		CausationID:   "d",
		OccurredAt:    time.Date(2024, 1, 31, 12, 0, 0, 1, time.FixedZone("", 3600)),
	})
	require.NoError(t, err)
	var m eventstore.Metadata
	require.True(t, decodeMetadataFast(meta, &m), "the shape Append writes takes the fast path")
	checkDecodeMetadata(t, meta)
}

func FuzzDecodeMetadata(f *testing.F) {
	for _, s := range metadataSamples {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecodeMetadata(t, b)
	})
}

// checkDecodeMetadata checks that decodeMetadata gives what json.Unmarshal
// gives wherever json.Unmarshal succeeds.
func checkDecodeMetadata(t *testing.T, b []byte) {
	t.Helper()
	var want eventstore.Metadata
	wantErr := json.Unmarshal(b, &want)
	var got eventstore.Metadata
	err := decodeMetadata(b, &got)
	if wantErr != nil {
		require.Error(t, err, "%q", b)
		return
	}
	require.NoError(t, err, "%q", b)
	require.Equal(t, want.Actor, got.Actor, "%q", b)
	require.Equal(t, want.CorrelationID, got.CorrelationID, "%q", b)
	require.Equal(t, want.CausationID, got.CausationID, "%q", b)
	require.True(t, want.OccurredAt.Equal(got.OccurredAt), "%q: %s != %s", b, want.OccurredAt, got.OccurredAt)
	require.Equal(t, want.OccurredAt.Format(time.RFC3339Nano), got.OccurredAt.Format(time.RFC3339Nano), "%q", b)
}
