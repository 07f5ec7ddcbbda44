package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/postgres"
)

// Example wires the store: migrate, append with an expected version, and
// follow the global order from a checkpoint. (Compiled, not run: it needs a
// server.)
func Example() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://127.0.0.1:5432/subsd?sslmode=disable&pool_max_conns=16")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	if err := postgres.Migrate(ctx, pool); err != nil {
		log.Fatal(err)
	}
	store := postgres.New(pool)

	// The command handler loaded the stream at version 0 (it did not
	// exist); the event id is the caller's, so a retry appends nothing.
	res, err := store.Append(ctx, "subscription-42", eventstore.Exact(0), eventstore.EventData{
		ID:       uuid.New(),
		Type:     "subscription.started",
		Data:     []byte(`{"product_id":"coffee-1kg","interval_days":28}`),
		Metadata: eventstore.Metadata{Actor: "admin:alice", CorrelationID: "req-7"},
	})
	switch {
	case errors.Is(err, eventstore.ErrWrongExpectedVersion):
		// Someone else appended first: reload and decide again.
	case err != nil:
		log.Fatal(err)
	}
	fmt.Println("stream at version", res.Version)

	// A projection resumes from the position it stored with its rows.
	checkpoint := eventstore.Start
	err = store.Subscribe(ctx, checkpoint, func(ctx context.Context, e eventstore.RecordedEvent) error {
		fmt.Println(e.Position, e.StreamID, e.Version, e.Type)
		return nil // and store e.Position with the projection's rows
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		log.Fatal(err)
	}
}
