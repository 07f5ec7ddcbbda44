package crypto

import (
	"context"
	"crypto/rand"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/subsd/subsd/eventstore/crypto/internal/dbsqlc"
)

// StoredMasterKey returns the master key kept in the database (table
// stored_master_key), generating and storing one first if there is none:
// the master key of a service that runs without DATA_KEY. Concurrent first
// calls, in any processes, all get the one key that was stored first. Run
// Migrate before it.
//
// Crypto-shredding still works with it: erasure deletes the customer's own
// data key, and nothing can read their ciphertext afterwards. What a stored
// master key gives up is protection of a database copy at rest, since the
// key that unwraps every live data key sits beside them; set DATA_KEY in
// production.
func StoredMasterKey(ctx context.Context, pool *pgxpool.Pool) ([]byte, error) {
	fresh := make([]byte, MasterKeySize)
	_, _ = rand.Read(fresh) // crypto/rand.Read never fails
	q := dbsqlc.New(pool)
	if err := q.StoredMasterKeyCreate(ctx, fresh); err != nil {
		return nil, fmt.Errorf("storing a master key: %w", err)
	}
	key, err := q.StoredMasterKey(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the stored master key: %w", err)
	}
	return key, nil
}
