package projections

import (
	"context"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/subsd/subsd/eventstore"
)

// The swap of a rebuild must lock the projection's eventrouter checkpoint
// (so that the live consumer waits, and the catch-up knows exactly where it
// stands) and may move it forward, in the transaction that swaps the
// schemas. The eventrouter keeps those statements unexported; these two
// mirror its CheckpointCreate/CheckpointLock and CheckpointSet queries on
// its consumer_checkpoints table, and are to be replaced by exported
// eventrouter.LockCheckpoint / SetCheckpoint (tx-scoped) when it has them.

// lockCheckpoint locks the checkpoint row of consumer for the rest of tx,
// creating it at Start if needed, and returns its position.
func lockCheckpoint(ctx context.Context, tx pgx.Tx, consumer string) (eventstore.Position, error) {
	if _, err := tx.Exec(ctx, `INSERT INTO consumer_checkpoints (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`, consumer); err != nil {
		return eventstore.Position{}, fmt.Errorf("creating the checkpoint of %s: %w", consumer, err)
	}
	var major, minor int64
	if err := tx.QueryRow(ctx, `SELECT position_major, position_minor FROM consumer_checkpoints WHERE name = $1 FOR UPDATE`, consumer).
		Scan(&major, &minor); err != nil {
		return eventstore.Position{}, fmt.Errorf("locking the checkpoint of %s: %w", consumer, err)
	}
	return eventstore.Position{Major: uint64(major), Minor: uint64(minor)}, nil
}

// setCheckpoint moves the checkpoint of consumer to p inside tx.
func setCheckpoint(ctx context.Context, tx pgx.Tx, consumer string, p eventstore.Position) error {
	if p.Major > math.MaxInt64 || p.Minor > math.MaxInt64 {
		return fmt.Errorf("position %s does not fit a checkpoint", p)
	}
	if _, err := tx.Exec(ctx, `UPDATE consumer_checkpoints SET position_major = $2, position_minor = $3, updated_at = now() WHERE name = $1`,
		consumer, int64(p.Major), int64(p.Minor)); err != nil {
		return fmt.Errorf("moving the checkpoint of %s to %s: %w", consumer, p, err)
	}
	return nil
}
