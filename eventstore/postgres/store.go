// Package postgres is the default event store: events kept in the same
// PostgreSQL database as the read models and River, so that it needs nothing
// that is not already running.
//
// # Global order
//
// A global sequence alone is not a safe order to read by. Sequence values are
// taken when a row is inserted, but rows become visible when their
// transaction commits, and transactions commit in any order: T1 takes seq 10,
// T2 takes seq 11 and commits first, a reader sees 11, checkpoints it, and
// never reads 10 when T1 commits a moment later. Event stores that trusted
// "seq > checkpoint" lost events this way.
//
// So every row is stamped with the id of the transaction that wrote it
// (pg_current_xact_id(), a 64-bit xid8 that never wraps), and readers of the
// global order only take rows whose transaction id is below the xmin of their
// snapshot, pg_snapshot_xmin(pg_current_snapshot()): every transaction below
// it has finished, so no row can appear there any more. Rows are ordered by
// (tx_id, tx_index), tx_index numbering the events within their transaction,
// and that pair is the Position (Major, Minor) a subscriber checkpoints;
// checkpointing a sequence alone would reintroduce the bug, since an older
// transaction's rows can carry higher sequence values than a younger
// transaction's. tx_index stays small, so a position also fits the
// one-integer token the API shows clients (eventstore.Position.Token).
//
// The price: the xmin horizon is the oldest transaction still running
// anywhere on the server (any database, any client, including transactions
// that never touch these tables and prepared two-phase transactions). While
// one runs, events committed after it started are held back from ReadAll and
// Subscribe (not from ReadStream) until it ends. Keep transactions short; a
// subscriber polls while it knows events are held back.
//
// # Appends
//
// An append is one SQL statement (see query.go) whose expected-version check
// is a conditional write of the stream's row in eventstore_streams, which
// serialises appenders to a stream; a failed check returns no row rather than
// an error. Only then does Append spend more round trips, to tell a retried
// append (which succeeds idempotently) from a real conflict.
//
// Alone, that statement is one round trip and one implicit transaction. Under
// concurrency the Store commits appends in groups (see groupcommit.go):
// appends that arrive while a transaction is in flight are sent together, as
// one pipelined batch in one transaction, each still succeeding or failing on
// its own. On a small server the cost of a transaction (round trip, commit,
// WAL flush), not of the insert, is what limits appends per second; group
// commit shares it.
//
// # Notifications
//
// A NOTIFY inside the appending transaction would make every append take
// PostgreSQL's global notification lock through its commit (that lock keeps
// the queue in commit order), serialising all appenders' WAL flushes: on the
// development machine, 8 clients' single-row insert transactions fell from
// ~5,500/s to ~1,500/s with a NOTIFY in each. So Append commits without it,
// then wakes this Store's own subscribers directly and sends a coalesced
// NOTIFY (at most one per 5ms) for Store values in other processes. A lost
// notification (a crash in between, a dropped listening connection) costs
// latency, not events: subscribers also poll.
package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/subsd/subsd/eventstore"
)

// Constraint names from migrations/001_events.sql, used to map unique
// violations to the store's errors.
const (
	eventIDKey       = "eventstore_events_event_id_key"
	streamVersionKey = "eventstore_events_stream_version_key"
)

// notifyChannel is the LISTEN/NOTIFY channel for new events. Channels are per
// database, like the tables.
const notifyChannel = "eventstore_events"

// Store is the PostgreSQL event store. It is safe for concurrent use. It owns
// no connections of its own except, while at least one subscription runs, a
// single listening connection shared by all of them.
type Store struct {
	pool *pgxpool.Pool
	opts options
	// id names this Store in its notifications, so that its listener can
	// skip the ones it sent: its own subscribers were already woken.
	id string

	wake  signal
	group committer

	// notifyPending and notifying coalesce notifications: at most one NOTIFY
	// is in flight per Store, and appends committed meanwhile are announced
	// by the next one.
	notifyPending atomic.Bool
	notifying     atomic.Bool

	listenMu    sync.Mutex
	subscribers int
	stopListen  context.CancelFunc
	listenDone  chan struct{}
	// listening is true while the listening connection is up, so that
	// subscribers poll more often while it is not.
	listening atomic.Bool
}

var _ eventstore.Store = (*Store)(nil)

type options struct {
	groupCommit  int
	logger       *slog.Logger
	pollInterval time.Duration
	pageSize     int
}

// Option configures a Store.
type Option func(*options)

// WithLogger sets where the store reports trouble it recovers from (a
// subscription's failed read that it retries, a lost listening connection).
// The default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithPollInterval sets how long an idle subscription waits for a
// notification before it reads anyway (default 500ms). Notifications wake
// subscribers within milliseconds; the poll only bounds the delay when one is
// lost. While the listening connection is down subscribers poll every 50ms
// whatever this says.
func WithPollInterval(d time.Duration) Option {
	return func(o *options) { o.pollInterval = d }
}

// WithGroupCommit sets how many transactions at most the store's concurrent
// appends are sent in at once (default 4; see groupcommit.go). Appends that
// arrive while those are busy are queued and then sent together, in one
// transaction, which multiplies the appends a server commits per second when
// many callers append at once; each append still succeeds or fails on its
// own. 0 turns group commit off: every append is then its own transaction.
func WithGroupCommit(transactions int) Option {
	return func(o *options) { o.groupCommit = transactions }
}

// WithPageSize sets how many events a subscription reads per query (default
// 1000).
func WithPageSize(n int) Option {
	return func(o *options) { o.pageSize = n }
}

// New returns a store over pool. Its tables must exist (see Migrate); Ping
// checks that they do. Appends use at most WithGroupCommit's number of
// connections at once (each append its own with group commit off, and
// briefly after a batch fails); each running subscription one more while it
// reads; subscriptions share one listening connection of their own, outside
// the pool.
func New(pool *pgxpool.Pool, opts ...Option) *Store {
	o := options{
		groupCommit:  4,
		logger:       slog.Default(),
		pollInterval: 500 * time.Millisecond,
		pageSize:     1000,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.pollInterval <= 0 {
		o.pollInterval = 500 * time.Millisecond
	}
	if o.pageSize <= 0 {
		o.pageSize = 1000
	}
	if o.groupCommit < 0 {
		o.groupCommit = 0
	}
	var id [8]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	return &Store{
		pool:  pool,
		opts:  o,
		id:    hex.EncodeToString(id[:]),
		group: committer{max: o.groupCommit},
	}
}

// Ping reports whether the database answers and holds the tables this build
// of the store expects (every embedded migration applied). It is meant for
// readiness checks.
func (s *Store) Ping(ctx context.Context) error {
	var version int32
	if err := s.pool.QueryRow(ctx, schemaVersion).Scan(&version); err != nil {
		return fmt.Errorf("checking event store schema: %w", err)
	}
	if version < latestVersion {
		return fmt.Errorf("event store schema is at version %d, this build needs %d: run the migrations", version, latestVersion)
	}
	return nil
}

// Append writes events to the end of stream if expected holds, all or
// nothing, as eventstore.Store describes.
//
// Beyond the interface: an event id is unique in the whole store, so reusing
// an id that another stream holds is reported as eventstore.ErrInvalidAppend;
// so is data that is not valid UTF-8 JSON, or an id repeated within events.
// A retry whose ids match only part of what the stream holds is reported as
// eventstore.ErrWrongExpectedVersion. A successful append wakes subscribers
// at once (this Store's directly, other processes' through NOTIFY).
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	query, args, err := appendArgs(stream, expected, events)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("appending to stream %q: %w", stream, err)
	}

	row, err := s.execAppend(ctx, stream, query, args)
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		s.announce()
		return eventstore.AppendResult{
			Version:  uint64(row.version),
			Position: eventstore.Position{Major: row.txID, Minor: uint64(row.txIndex)},
		}, nil
	case errors.Is(err, pgx.ErrNoRows):
		// The expected version did not hold.
		return s.resolveConflict(ctx, stream, expected, events)
	case errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == eventIDKey:
		// An id is already stored (the statement waited for its writer to
		// commit before failing, so a new statement sees it).
		return s.resolveConflict(ctx, stream, expected, events)
	case errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == streamVersionKey:
		// Not reachable through Append, which claims versions through the
		// stream's row; but a writer that bypassed it must still surface as
		// a conflict, not as a driver error.
		return eventstore.AppendResult{}, fmt.Errorf("appending to stream %q: version already taken: %w", stream, eventstore.ErrWrongExpectedVersion)
	default:
		return eventstore.AppendResult{}, fmt.Errorf("appending to stream %q: %w", stream, err)
	}
}

// maxAppendAttempts bounds the tries of an append whose connection was lost
// (a pool may hand out several connections that a failover or restart has
// closed before it notices).
const maxAppendAttempts = 3

// connectionLost reports whether err means the connection failed, rather
// than the statement: no PostgreSQL error, or a FATAL one (the server ended
// the session), while ctx is still live.
func connectionLost(ctx context.Context, err error) bool {
	if err == nil || ctx.Err() != nil || errors.Is(err, pgx.ErrNoRows) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Severity == "FATAL" || pgErr.Severity == "PANIC"
	}
	return true
}

// appendArgs validates an append and returns its statement and arguments.
func appendArgs(stream string, expected eventstore.ExpectedVersion, events []eventstore.EventData) (string, []any, error) {
	if stream == "" {
		return "", nil, fmt.Errorf("empty stream name: %w", eventstore.ErrInvalidAppend)
	}
	if len(events) == 0 {
		return "", nil, fmt.Errorf("no events: %w", eventstore.ErrInvalidAppend)
	}
	one := len(events) == 1
	var (
		query string
		exact int64
	)
	switch e := expected.(type) {
	case eventstore.Any:
		query = pick(one, appendAnyOne, appendAnyMany)
	case eventstore.NoStream:
		query = pick(one, appendNoStreamOne, appendNoStreamMany)
	case eventstore.Exact:
		if e > math.MaxInt64-eventstore.Exact(len(events)) {
			return "", nil, fmt.Errorf("expected version %d out of range: %w", uint64(e), eventstore.ErrInvalidAppend)
		}
		if e == 0 {
			query = pick(one, appendNoStreamOne, appendNoStreamMany)
		} else {
			query, exact = pick(one, appendExactOne, appendExactMany), int64(e)
		}
	default:
		return "", nil, fmt.Errorf("expected version %v is not Any, NoStream or Exact: %w", expected, eventstore.ErrInvalidAppend)
	}

	ids := make([]pgtype.UUID, len(events))
	types := make([]string, len(events))
	data := make([][]byte, len(events))
	metadata := make([][]byte, len(events))
	seen := make(map[uuid.UUID]struct{}, len(events))
	for i, ev := range events {
		if ev.ID == uuid.Nil {
			return "", nil, fmt.Errorf("event %d: nil id: %w", i, eventstore.ErrInvalidAppend)
		}
		if _, dup := seen[ev.ID]; dup {
			return "", nil, fmt.Errorf("event %d: id %s repeated in one append: %w", i, ev.ID, eventstore.ErrInvalidAppend)
		}
		seen[ev.ID] = struct{}{}
		if ev.Type == "" {
			return "", nil, fmt.Errorf("event %d (%s): empty type: %w", i, ev.ID, eventstore.ErrInvalidAppend)
		}
		if !json.Valid(ev.Data) || !utf8.Valid(ev.Data) {
			return "", nil, fmt.Errorf("event %d (%s): data is not UTF-8 JSON: %w", i, ev.ID, eventstore.ErrInvalidAppend)
		}
		meta, err := json.Marshal(ev.Metadata)
		if err != nil {
			return "", nil, fmt.Errorf("event %d (%s): encoding metadata: %v: %w", i, ev.ID, err, eventstore.ErrInvalidAppend)
		}
		ids[i] = pgtype.UUID{Bytes: ev.ID, Valid: true}
		types[i] = ev.Type
		data[i] = ev.Data
		metadata[i] = meta
	}
	var args []any
	if one {
		args = []any{stream, int64(1), ids[0], types[0], data[0], metadata[0]}
	} else {
		args = []any{stream, int64(len(events)), ids, types, data, metadata}
	}
	if exact != 0 {
		args = append(args, exact)
	}
	return query, args, nil
}

// resolveConflict runs after the fast path of Append found the stream not at
// the expected version, or one of the ids already stored. If the stream holds
// exactly these ids, consecutively and in order, the append is a retry of one
// that succeeded and its original result is returned; otherwise it is a
// conflict (or, for ids held by another stream, a misuse).
func (s *Store) resolveConflict(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events []eventstore.EventData) (eventstore.AppendResult, error) {
	ids := make([]pgtype.UUID, len(events))
	for i, ev := range events {
		ids[i] = pgtype.UUID{Bytes: ev.ID, Valid: true}
	}
	type found struct {
		stream  string
		version int64
		pos     eventstore.Position
	}
	rows, err := s.pool.Query(ctx, findEvents, ids)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("appending to stream %q: looking up event ids: %w", stream, err)
	}
	stored := make(map[uuid.UUID]found, len(events))
	for rows.Next() {
		var (
			id      pgtype.UUID
			f       found
			tx      uint64
			txIndex int64
		)
		if err := rows.Scan(&id, &f.stream, &f.version, &tx, &txIndex); err != nil {
			rows.Close()
			return eventstore.AppendResult{}, fmt.Errorf("appending to stream %q: looking up event ids: %w", stream, err)
		}
		f.pos = eventstore.Position{Major: tx, Minor: uint64(txIndex)}
		stored[id.Bytes] = f
	}
	if err := rows.Err(); err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("appending to stream %q: looking up event ids: %w", stream, err)
	}

	if len(stored) > 0 {
		for _, ev := range events {
			if f, ok := stored[ev.ID]; ok && f.stream != stream {
				return eventstore.AppendResult{}, fmt.Errorf("appending to stream %q: event id %s is already in stream %q: %w", stream, ev.ID, f.stream, eventstore.ErrInvalidAppend)
			}
		}
		if len(stored) == len(events) {
			first, last := stored[events[0].ID], stored[events[len(events)-1].ID]
			consecutive := true
			for i, ev := range events {
				consecutive = consecutive && stored[ev.ID].version == first.version+int64(i)
			}
			if consecutive {
				return eventstore.AppendResult{Version: uint64(last.version), Position: last.pos}, nil
			}
		}
		return eventstore.AppendResult{}, fmt.Errorf("appending to stream %q: %d of the %d event ids are already in the stream, not as one earlier append: %w", stream, len(stored), len(events), eventstore.ErrWrongExpectedVersion)
	}

	var current int64
	if err := s.pool.QueryRow(ctx, streamVersion, stream).Scan(&current); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return eventstore.AppendResult{}, fmt.Errorf("appending to stream %q: reading its version: %w", stream, err)
	}
	return eventstore.AppendResult{}, fmt.Errorf("appending to stream %q: expected %s, stream is at version %d: %w", stream, describe(expected), current, eventstore.ErrWrongExpectedVersion)
}

func pick(one bool, single, many string) string {
	if one {
		return single
	}
	return many
}

func describe(expected eventstore.ExpectedVersion) string {
	switch e := expected.(type) {
	case eventstore.Any:
		return "any version"
	case eventstore.NoStream:
		return "no stream"
	case eventstore.Exact:
		return fmt.Sprintf("version %d", uint64(e))
	default:
		return fmt.Sprintf("%v", expected)
	}
}

// ReadStream returns at most limit events of stream whose version is ≥ from,
// in version order, as eventstore.Store describes. It sees every committed
// event of the stream at once: unlike ReadAll, it does not wait for older
// transactions elsewhere, because a stream's order is its versions, final at
// commit. A limit ≤ 0 is an error.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("reading stream %q: limit %d is not positive", stream, limit)
	}
	if from > math.MaxInt64 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, readStream, stream, int64(from), limit)
	if err != nil {
		return nil, fmt.Errorf("reading stream %q: %w", stream, err)
	}
	events, err := scanEvents(rows, limit)
	if err != nil {
		return nil, fmt.Errorf("reading stream %q: %w", stream, err)
	}
	return events, nil
}

// ReadAll returns at most limit events after position after, in global order,
// as eventstore.Store describes. Only events of transactions older than every
// transaction still running on the server are returned (see the package
// comment), so a long transaction anywhere delays newer events here. A limit
// ≤ 0 is an error.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("reading all events after %s: limit %d is not positive", after, limit)
	}
	minor, ok := afterMinor(after)
	if !ok {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, readAll, after.Major, minor, limit)
	if err != nil {
		return nil, fmt.Errorf("reading all events after %s: %w", after, err)
	}
	events, err := scanEvents(rows, limit)
	if err != nil {
		return nil, fmt.Errorf("reading all events after %s: %w", after, err)
	}
	return events, nil
}

// afterMinor turns a position's Minor into the integer tx_index to compare
// with. tx_index is never above MaxInt32, so a larger Minor means "after
// every event of that transaction"; ok is false when nothing at all can come
// after.
func afterMinor(after eventstore.Position) (int64, bool) {
	if after.Minor <= math.MaxInt32 {
		return int64(after.Minor), true
	}
	if after.Major == math.MaxUint64 {
		return 0, false
	}
	// (Major, MaxInt32) excludes every row of transaction Major.
	return math.MaxInt32, true
}

// scanEvents reads rows selected with eventColumns.
func scanEvents(rows pgx.Rows, capacity int) ([]eventstore.RecordedEvent, error) {
	defer rows.Close()
	events := make([]eventstore.RecordedEvent, 0, min(capacity, 1024))
	var (
		txID     uint64
		txIndex  int64
		id       pgtype.UUID
		version  int64
		metadata []byte
	)
	for rows.Next() {
		var e eventstore.RecordedEvent
		if err := rows.Scan(&txID, &txIndex, &id, &e.StreamID, &version, &e.Type, &e.Data, &metadata, &e.RecordedAt, &e.Hash); err != nil {
			return nil, err
		}
		if err := decodeMetadata(metadata, &e.Metadata); err != nil {
			return nil, fmt.Errorf("decoding metadata of event %s: %w", uuid.UUID(id.Bytes), err)
		}
		e.ID = id.Bytes
		e.Version = uint64(version)
		e.Position = eventstore.Position{Major: txID, Minor: uint64(txIndex)}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return events, nil
}
