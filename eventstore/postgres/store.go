// Package postgres is the default event store: events kept in the same
// PostgreSQL database as the read models and River.
package postgres

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/subsd/subsd/eventstore"
)

// Store is the PostgreSQL event store. PLACEHOLDER: being written.
type Store struct{ pool *pgxpool.Pool }

var _ eventstore.Store = (*Store)(nil)

// New returns a store over pool. Its tables must exist (see Migrate).
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// Migrate applies the store's numbered migrations.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error { return errors.New("todo") }

func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	return eventstore.AppendResult{}, errors.New("todo")
}
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	return nil, errors.New("todo")
}
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	return nil, errors.New("todo")
}
func (s *Store) Subscribe(ctx context.Context, after eventstore.Position, handle eventstore.HandlerFunc) error {
	return errors.New("todo")
}
