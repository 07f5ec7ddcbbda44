// Package eventstore defines the append-only log that every aggregate of the
// service writes to and every projection and reactor reads from.
//
// Two adapters implement Store: eventstore/postgres (the default, needing only
// the PostgreSQL that already holds the read models and River) and
// eventstore/esdb (EventStoreDB). Both pass the contract suite in
// eventstore/eventstoretest, which is the executable form of this file's
// doc comments.
//
// Versions are 1-based: the first event of a stream has version 1, and a
// stream that does not exist is at version 0. Global order is given by
// Position, which both adapters define so that a reader that has seen an event
// at position p never later sees a new event at a position ≤ p.
package eventstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// ErrWrongExpectedVersion is returned (wrapped) by Append when the stream is
// not at the version the caller expected. It is the only concurrency error an
// adapter reports: driver-specific errors are mapped to it in the adapter.
var ErrWrongExpectedVersion = errors.New("eventstore: wrong expected version")

// ErrInvalidAppend is returned (wrapped) by Append for a request that can never
// succeed: no events, an empty stream or type name, a nil event id, or data
// that is not JSON.
var ErrInvalidAppend = errors.New("eventstore: invalid append")

// ExpectedVersion is the optimistic-concurrency condition of an append. It is
// a closed set: Any, NoStream and Exact.
type ExpectedVersion interface {
	isExpectedVersion()
}

// Any appends whatever version the stream is at, creating it if needed.
type Any struct{}

// NoStream appends only if the stream has no events yet.
type NoStream struct{}

// Exact appends only if the stream's last event has exactly this version.
// Exact(0) means the same as NoStream, which lets a command handler pass the
// version it loaded without a special case for new streams.
type Exact uint64

func (Any) isExpectedVersion()      {}
func (NoStream) isExpectedVersion() {}
func (Exact) isExpectedVersion()    {}

// Metadata is what every event carries besides its data, so that auditors can
// tell who did what, in answer to what.
type Metadata struct {
	// Actor is who caused the event: "admin:alice", "worker:charge", "stripe".
	Actor string `json:"actor,omitempty"`
	// CorrelationID ties together everything done for one request or job.
	CorrelationID string `json:"correlation_id,omitempty"`
	// CausationID is the id of the event or request this event answers.
	CausationID string `json:"causation_id,omitempty"`
	// OccurredAt is the business time of the event (the injected clock, which
	// a test clock may move); RecordedEvent.RecordedAt is the store's own time.
	OccurredAt time.Time `json:"occurred_at,omitzero"`
}

// EventData is an event to append. Its ID is chosen by the caller and makes
// appends idempotent: appending the same ids to the same stream again is a
// no-op that reports success.
type EventData struct {
	ID       uuid.UUID
	Type     string // stable stored name, e.g. "subscription.canceled"
	Data     []byte // JSON
	Metadata Metadata
}

// RecordedEvent is an event as the store holds it.
type RecordedEvent struct {
	ID         uuid.UUID
	StreamID   string
	Version    uint64 // 1-based position within the stream
	Position   Position
	Type       string
	Data       []byte
	Metadata   Metadata
	RecordedAt time.Time
	// Hash links the event into its stream's hash chain (tamper evidence;
	// see Verifier): SHA-256 over the previous event's Hash and this
	// event's stored bytes. Nil from a store that keeps no chain.
	Hash []byte
}

// Position is a point in the global order of all events. Positions compare
// lexicographically (Major, then Minor).
//
// In the PostgreSQL store Major is the id of the transaction that wrote the
// event and Minor the event's row sequence; in EventStoreDB they are the
// commit and prepare positions. The zero Position is before every event.
type Position struct {
	Major uint64
	Minor uint64
}

// Start is the position before the first event.
var Start = Position{}

// Less reports whether p comes before q in the global order.
func (p Position) Less(q Position) bool {
	if p.Major != q.Major {
		return p.Major < q.Major
	}
	return p.Minor < q.Minor
}

// String renders the position as "major/minor", the form checkpoints and
// cursors use.
func (p Position) String() string {
	return fmt.Sprintf("%d/%d", p.Major, p.Minor)
}

// ParsePosition reads a position written by String.
func ParsePosition(s string) (Position, error) {
	var p Position
	if _, err := fmt.Sscanf(s, "%d/%d", &p.Major, &p.Minor); err != nil {
		return Position{}, fmt.Errorf("parsing position %q: %w", s, err)
	}
	if p.String() != s {
		return Position{}, fmt.Errorf("parsing position %q: trailing characters", s)
	}
	return p, nil
}

// tokenMinorBits is how many low bits of a token hold Minor. A position
// whose Minor fits in them and whose Major fits in the rest (43 bits: eight
// trillion PostgreSQL transactions) is written as one decimal integer.
const tokenMinorBits = 20

// Token renders p for clients (HTTP's X-Event-Position, the events log's
// position and cursors): a decimal integer, Major<<20 | Minor, when p fits,
// which it does for the PostgreSQL store (transaction id, index within the
// transaction); otherwise String's "major/minor". Tokens of integer form
// compare like the positions they encode.
func (p Position) Token() string {
	if p.Minor < 1<<tokenMinorBits && p.Major < 1<<(63-tokenMinorBits) {
		return strconv.FormatUint(p.Major<<tokenMinorBits|p.Minor, 10)
	}
	return p.String()
}

// ParseToken reads a token written by Token.
func ParseToken(s string) (Position, error) {
	if n, err := strconv.ParseUint(s, 10, 63); err == nil {
		return Position{Major: n >> tokenMinorBits, Minor: n & (1<<tokenMinorBits - 1)}, nil
	}
	p, err := ParsePosition(s)
	if err != nil {
		return Position{}, fmt.Errorf("parsing position token %q: want a non-negative integer", s)
	}
	return p, nil
}

// AppendResult says where an append left the stream.
type AppendResult struct {
	// Version is the stream's version after the append (the version of its
	// last event).
	Version uint64
	// Position is the global position of the last appended event.
	Position Position
}

// HandlerFunc receives events from a subscription, one at a time and in
// global order. Returning an error stops the subscription with that error.
type HandlerFunc func(ctx context.Context, event RecordedEvent) error

// Store is the event log. Implementations are safe for concurrent use.
type Store interface {
	// Append writes events to the end of stream if expected holds, all or
	// nothing. If every event id is already in the stream, in the same order,
	// as the events that follow the expected version, Append appends nothing
	// and returns the result of the original append. A failed condition is
	// reported as ErrWrongExpectedVersion.
	Append(ctx context.Context, stream string, expected ExpectedVersion, events ...EventData) (AppendResult, error)

	// ReadStream returns at most limit events of stream whose version is ≥
	// from, in version order. A stream that does not exist reads as empty.
	ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]RecordedEvent, error)

	// ReadAll returns at most limit events that come after position after, in
	// global order. It returns only events whose place in the order is final:
	// no event will later appear between two events it returned.
	ReadAll(ctx context.Context, after Position, limit int) ([]RecordedEvent, error)

	// Subscribe calls handle for every event after position after, in global
	// order: first those already written (catch-up), then new ones as they
	// are committed (live). It blocks until ctx is done (returning ctx.Err())
	// or handle returns an error (returning it). A dropped connection is
	// resumed from the last delivered event, so handle sees each event once
	// per call to Subscribe.
	Subscribe(ctx context.Context, after Position, handle HandlerFunc) error
}
