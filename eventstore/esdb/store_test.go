package esdb_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/esdb"
	"github.com/subsd/subsd/eventstore/eventstoretest"
)

// TestStore runs the event store contract against a live EventStoreDB when
// EVENTSTORE_URL names one (compose.yaml starts one). Each store gets a
// namespace of its own, so every test sees an empty store on a shared server.
func TestStore(t *testing.T) {
	url := os.Getenv("EVENTSTORE_URL")
	if url == "" {
		t.Skip("EVENTSTORE_URL not set: EventStoreDB adapter not exercised")
	}
	eventstoretest.TestStore(t, func(t *testing.T) eventstore.Store {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := esdb.New(ctx, url, esdb.WithNamespace("test-"+uuid.NewString()+"-"))
		require.NoError(t, err)
		t.Cleanup(func() { require.NoError(t, s.Close()) })
		return s
	})
}

func TestNewUnreachable(t *testing.T) {
	t.Parallel()

	// Port 1 on the loopback refuses connections: New must report it rather
	// than hand out a store that fails later.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := esdb.New(ctx, "esdb://127.0.0.1:1?tls=false", esdb.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	require.Error(t, err)
	require.Nil(t, s)
}

func TestNewInvalidOptions(t *testing.T) {
	t.Parallel()

	for name, opt := range map[string]esdb.Option{
		"empty prefix":     esdb.WithStreamPrefixes("subscription-", ""),
		"system prefix":    esdb.WithStreamPrefixes("$ce-"),
		"system namespace": esdb.WithNamespace("$test"),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := esdb.New(context.Background(), "esdb://127.0.0.1:1?tls=false", opt)
			require.ErrorContains(t, err, "invalid")
		})
	}
}
