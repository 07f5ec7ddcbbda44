package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// EventHash is the Go computation of an event's hash, which Verify uses and
// the append statement must agree with.
func EventHash(prev []byte, version int64, id [16]byte, stream, typ string, data, metadata []byte) []byte {
	return append([]byte(nil), newEventHasher().hash(prev, version, id, stream, typ, data, metadata)...)
}

// MigrateTo migrates the store's tables to version (tests of migrations).
func MigrateTo(ctx context.Context, pool *pgxpool.Pool, version int32) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	m, err := migrator(ctx, conn)
	if err != nil {
		return err
	}
	if err := m.MigrateTo(ctx, version); err != nil {
		return fmt.Errorf("migrating to %d: %w", version, err)
	}
	return nil
}
