package eventstore

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/subsd/subsd/domain"
)

// Load folds stream into a state of aggregate a and returns it with the
// stream's version. A stream that does not exist loads as the zero state at
// version 0.
func Load[S any, C any, E domain.Event](ctx context.Context, store Store, a domain.Aggregate[S, C, E], stream string) (S, uint64, error) {
	var (
		state   S
		version uint64
	)
	const page = 500
	for {
		events, err := store.ReadStream(ctx, stream, version+1, page)
		if err != nil {
			return state, 0, fmt.Errorf("loading stream %s: %w", stream, err)
		}
		for _, re := range events {
			e, err := a.Codec.Decode(re.Type, re.Data)
			if err != nil {
				return state, 0, fmt.Errorf("loading stream %s at version %d: %w", stream, re.Version, err)
			}
			state = a.Evolve(state, e)
			version = re.Version
		}
		if len(events) < page {
			return state, version, nil
		}
	}
}

// ExecuteOptions tunes one Execute call.
type ExecuteOptions struct {
	// IfMatch, when set, is the version the caller last saw (HTTP If-Match):
	// the command is decided against the stream only if it is still at that
	// version, and a conflict is reported instead of retried.
	IfMatch *uint64
	// Metadata is stamped on every appended event.
	Metadata Metadata
	// IdempotencyKey, when set, makes the event ids deterministic: the same
	// key and stream always yield the same ids, so a worker that retries
	// after a crash between append and acknowledgement appends nothing
	// twice: either Decide finds nothing left to do, or it decides the same
	// events and Append recognises their ids. Without it, ids are random.
	IdempotencyKey string
	// MaxAttempts bounds the load-decide-append loop on concurrency
	// conflicts; 0 means 5. IfMatch forces a single attempt.
	MaxAttempts int
}

// ErrVersionMismatch is returned by Execute when IfMatch no longer holds
// (HTTP 412). It wraps ErrWrongExpectedVersion.
var ErrVersionMismatch = fmt.Errorf("stream has moved on since the version given: %w", ErrWrongExpectedVersion)

// ExecuteResult reports what a command appended.
type ExecuteResult[S any, E domain.Event] struct {
	// State is the aggregate after the command.
	State S
	// Events are the events the command decided (none for a no-op).
	Events []E
	// Version is the stream's version after the command.
	Version uint64
	// Position is the global position of the last appended event; the zero
	// Position when nothing was appended.
	Position Position
}

// Execute runs cmd against the aggregate in stream: load, decide, append with
// the loaded version as the expected version. On a concurrency conflict it
// reloads and decides again, up to MaxAttempts times, because the command
// may still be valid against the newer state; with IfMatch it does not
// retry. Errors from Decide are returned unwrapped so that callers can match
// domain sentinels.
func Execute[S any, C any, E domain.Event](ctx context.Context, store Store, a domain.Aggregate[S, C, E], stream string, cmd C, opts ExecuteOptions) (ExecuteResult[S, E], error) {
	attempts := opts.MaxAttempts
	if attempts <= 0 {
		attempts = 5
	}
	if opts.IfMatch != nil {
		attempts = 1
	}
	for attempt := 1; ; attempt++ {
		state, version, err := Load(ctx, store, a, stream)
		if err != nil {
			return ExecuteResult[S, E]{}, err
		}
		if opts.IfMatch != nil && *opts.IfMatch != version {
			return ExecuteResult[S, E]{}, ErrVersionMismatch
		}
		events, err := a.Decide(state, cmd)
		if err != nil {
			return ExecuteResult[S, E]{}, err
		}
		if len(events) == 0 {
			return ExecuteResult[S, E]{State: state, Version: version}, nil
		}
		data := make([]EventData, len(events))
		for i, e := range events {
			name, payload, err := a.Codec.Encode(e)
			if err != nil {
				return ExecuteResult[S, E]{}, err
			}
			data[i] = EventData{ID: eventID(opts.IdempotencyKey, stream, i), Type: name, Data: payload, Metadata: opts.Metadata}
			state = a.Evolve(state, e)
		}
		res, err := store.Append(ctx, stream, Exact(version), data...)
		switch {
		case err == nil:
			return ExecuteResult[S, E]{State: state, Events: events, Version: res.Version, Position: res.Position}, nil
		case !errors.Is(err, ErrWrongExpectedVersion):
			return ExecuteResult[S, E]{}, fmt.Errorf("appending to %s: %w", stream, err)
		case opts.IfMatch != nil:
			return ExecuteResult[S, E]{}, ErrVersionMismatch
		case attempt >= attempts:
			return ExecuteResult[S, E]{}, fmt.Errorf("appending to %s after %d attempts: %w", stream, attempt, err)
		}
	}
}

// eventID returns a random id, or with a key, one derived from (key, stream,
// index): a retried command that decides the same events reuses their ids,
// and the store treats the append as already done.
func eventID(key, stream string, i int) uuid.UUID {
	if key == "" {
		return uuid.New()
	}
	return uuid.NewHash(sha256.New(), idNamespace, []byte(fmt.Sprintf("%s\x00%s\x00%d", key, stream, i)), 5)
}

// idNamespace scopes derived event ids to this service.
var idNamespace = uuid.MustParse("6f1d0c4e-8a51-4c52-9f53-5b0e2d1c7a90")
