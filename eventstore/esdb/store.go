// Package esdb keeps events in EventStoreDB.
package esdb

import (
	"context"
	"errors"

	"github.com/subsd/subsd/eventstore"
)

// Store is the EventStoreDB event store. PLACEHOLDER: being written.
type Store struct{}

var _ eventstore.Store = (*Store)(nil)

// New connects to the EventStoreDB at url ("esdb://host:2113?tls=false").
func New(ctx context.Context, url string) (*Store, error) { return nil, errors.New("todo") }

// Close closes the client connection.
func (s *Store) Close() error { return nil }

// Ping checks the server answers.
func (s *Store) Ping(ctx context.Context) error { return errors.New("todo") }

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
