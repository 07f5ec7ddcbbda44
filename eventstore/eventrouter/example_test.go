package eventrouter_test

import (
	"context"
	"log"
	"os"
	"os/signal"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/eventrouter"
	"github.com/subsd/subsd/eventstore/postgres"
)

// A projection is a consumer whose ApplyFunc writes its read model through
// the transaction it is given; the router commits those writes with the
// consumer's checkpoint.
func ExampleRouter() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	pool, err := pgxpool.New(ctx, "postgres://127.0.0.1:5432/subsd")
	if err != nil {
		log.Fatal(err)
	}
	defer pool.Close()
	if err := postgres.Migrate(ctx, pool); err != nil {
		log.Fatal(err)
	}
	if err := eventrouter.Migrate(ctx, pool); err != nil {
		log.Fatal(err)
	}

	router, err := eventrouter.NewRouter(pool, postgres.New(pool), eventrouter.Config{})
	if err != nil {
		log.Fatal(err)
	}
	router.AddConsumer("subscription_list", func(ctx context.Context, tx pgx.Tx, e eventstore.RecordedEvent) error {
		switch e.Type {
		case "subscription.started":
			// Insert the row with tx (the projection's sqlc queries).
		case "subscription.canceled":
			// Update it with tx.
		}
		return nil
	})

	// Run returns when ctx is done (here: on Ctrl-C).
	if err := router.Run(ctx); err != nil {
		log.Fatal(err)
	}
}
