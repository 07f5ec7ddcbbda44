package eventrouter

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/eventrouter/internal/dbsqlc"
)

// DB is what the read functions of this package need: a *pgxpool.Pool, a
// *pgx.Conn or a pgx.Tx.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// ApplyFunc applies one event of a consumer inside tx, the transaction that
// also moves the consumer's checkpoint past the event. It must do all its
// writes through tx and must not commit or roll it back. Returning an error
// rolls everything back; the event is then retried and, if it keeps failing,
// poisoned (see Router). ApplyFunc is called for each event once per
// successful commit, in global order, never concurrently for one consumer.
type ApplyFunc func(ctx context.Context, tx pgx.Tx, e eventstore.RecordedEvent) error

// Handler adapts apply into a Watermill handler for the messages of the
// consumer named consumer (made by NewMessage, as Subscriber delivers them).
// For each message it begins a transaction, locks the consumer's checkpoint
// row (creating it at Start the first time), skips the event if the checkpoint
// is already at or past it (a redelivery, or another process running the same
// consumer got there first), and otherwise calls apply and moves the
// checkpoint to the event, committing both at once: an event's effects are
// committed exactly once even when it is delivered many times.
//
// The returned error is apply's (wrapped), or the database's; either leaves
// nothing behind. Handler is safe for concurrent use, and two processes
// running the same consumer serialise on the checkpoint row.
func Handler(pool *pgxpool.Pool, consumer string, apply ApplyFunc) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		e, err := EventFromMessage(msg)
		if err != nil {
			return fmt.Errorf("consumer %s: %w", consumer, err)
		}
		ctx := msg.Context()
		return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			q := dbsqlc.New(tx)
			at, err := lockCheckpoint(ctx, q, consumer)
			if err != nil {
				return err
			}
			if !at.Less(e.Position) {
				return nil // already applied
			}
			if err := apply(ctx, tx, e); err != nil {
				return fmt.Errorf("consumer %s: applying %s %s@%d at %s: %w", consumer, e.Type, e.StreamID, e.Version, e.Position, err)
			}
			return setCheckpoint(ctx, q, consumer, e.Position)
		})
	}
}

// lockCheckpoint locks the consumer's checkpoint row for the rest of the
// transaction and returns its position, creating the row at Start if needed.
func lockCheckpoint(ctx context.Context, q *dbsqlc.Queries, consumer string) (eventstore.Position, error) {
	row, err := q.CheckpointLock(ctx, consumer)
	if errors.Is(err, pgx.ErrNoRows) {
		if err := q.CheckpointCreate(ctx, consumer); err != nil {
			return eventstore.Position{}, fmt.Errorf("consumer %s: creating checkpoint: %w", consumer, err)
		}
		row, err = q.CheckpointLock(ctx, consumer)
	}
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("consumer %s: locking checkpoint: %w", consumer, err)
	}
	return fromDB(row.PositionMajor, row.PositionMinor), nil
}

func setCheckpoint(ctx context.Context, q *dbsqlc.Queries, consumer string, p eventstore.Position) error {
	major, minor, err := toDB(p)
	if err != nil {
		return fmt.Errorf("consumer %s: %w", consumer, err)
	}
	if err := q.CheckpointSet(ctx, dbsqlc.CheckpointSetParams{Name: consumer, PositionMajor: major, PositionMinor: minor}); err != nil {
		return fmt.Errorf("consumer %s: moving checkpoint to %s: %w", consumer, p, err)
	}
	return nil
}

// Checkpoint returns the position of the last event the consumer named name
// has finished with (applied, skipped or poisoned), or eventstore.Start if it
// has none yet.
func Checkpoint(ctx context.Context, db DB, name string) (eventstore.Position, error) {
	row, err := dbsqlc.New(db).CheckpointGet(ctx, name)
	if errors.Is(err, pgx.ErrNoRows) {
		return eventstore.Start, nil
	}
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("reading checkpoint of consumer %s: %w", name, err)
	}
	return fromDB(row.PositionMajor, row.PositionMinor), nil
}

// ConsumerCheckpoint is where one consumer is.
type ConsumerCheckpoint struct {
	Name      string
	Position  eventstore.Position
	UpdatedAt time.Time
}

// Checkpoints lists every consumer that has a checkpoint, by name.
func Checkpoints(ctx context.Context, db DB) ([]ConsumerCheckpoint, error) {
	rows, err := dbsqlc.New(db).CheckpointList(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing consumer checkpoints: %w", err)
	}
	out := make([]ConsumerCheckpoint, len(rows))
	for i, r := range rows {
		out[i] = ConsumerCheckpoint{Name: r.Name, Position: fromDB(r.PositionMajor, r.PositionMinor), UpdatedAt: r.UpdatedAt}
	}
	return out, nil
}

// PoisonedEvent is an event a consumer gave up on. The event itself is in the
// store, at StreamID and Version.
type PoisonedEvent struct {
	Consumer   string
	EventID    string
	StreamID   string
	Version    uint64
	Position   eventstore.Position
	Type       string
	Error      string
	PoisonedAt time.Time
}

// PoisonedEvents lists the events the consumer named consumer gave up on, in
// global order.
func PoisonedEvents(ctx context.Context, db DB, consumer string) ([]PoisonedEvent, error) {
	rows, err := dbsqlc.New(db).PoisonedEventList(ctx, consumer)
	if err != nil {
		return nil, fmt.Errorf("listing poisoned events of consumer %s: %w", consumer, err)
	}
	out := make([]PoisonedEvent, len(rows))
	for i, r := range rows {
		out[i] = PoisonedEvent{
			Consumer:   r.Consumer,
			EventID:    r.EventID.String(),
			StreamID:   r.StreamID,
			Version:    uint64(r.Version),
			Position:   fromDB(r.PositionMajor, r.PositionMinor),
			Type:       r.Type,
			Error:      r.Error,
			PoisonedAt: r.PoisonedAt,
		}
	}
	return out, nil
}

// recordPoisoned records that consumer gave up on e because of cause and
// moves the consumer's checkpoint past e, in one transaction, so that the
// consumer goes on and e, never applied, is never retried by it either. If
// the checkpoint is already past e (another process applied it), it records
// nothing.
func recordPoisoned(ctx context.Context, pool *pgxpool.Pool, consumer string, e eventstore.RecordedEvent, cause error) error {
	major, minor, err := toDB(e.Position)
	if err != nil {
		return fmt.Errorf("consumer %s: %w", consumer, err)
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		q := dbsqlc.New(tx)
		at, err := lockCheckpoint(ctx, q, consumer)
		if err != nil {
			return err
		}
		if !at.Less(e.Position) {
			return nil
		}
		if err := q.PoisonedEventInsert(ctx, dbsqlc.PoisonedEventInsertParams{
			Consumer:      consumer,
			EventID:       e.ID,
			StreamID:      e.StreamID,
			Version:       int64(min(e.Version, math.MaxInt64)),
			PositionMajor: major,
			PositionMinor: minor,
			Type:          e.Type,
			Error:         cause.Error(),
		}); err != nil {
			return fmt.Errorf("consumer %s: recording poisoned event %s: %w", consumer, e.ID, err)
		}
		return setCheckpoint(ctx, q, consumer, e.Position)
	})
}

// toDB converts a position to the bigint columns it is kept in. Neither
// store's positions come near 2^63 (transaction ids, log offsets), but a
// value that does is refused rather than wrapped.
func toDB(p eventstore.Position) (major, minor int64, err error) {
	if p.Major > math.MaxInt64 || p.Minor > math.MaxInt64 {
		return 0, 0, fmt.Errorf("position %s does not fit a checkpoint", p)
	}
	return int64(p.Major), int64(p.Minor), nil
}

func fromDB(major, minor int64) eventstore.Position {
	return eventstore.Position{Major: uint64(major), Minor: uint64(minor)}
}
