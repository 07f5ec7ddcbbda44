// Package eventrouter feeds the event store's ordered subscription into a
// Watermill router, so projections and reactors run as router handlers with
// Watermill's middleware while durability stays with the store and each
// consumer's checkpoint. PLACEHOLDER: being written.
package eventrouter

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Migrate creates the checkpoint tables.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error { return errors.New("todo") }
