// Package esdb keeps events in EventStoreDB (github.com/EventStore/EventStore-Client-Go/v4).
//
// The adapter maps the eventstore contract onto EventStoreDB's own model:
//
//   - Versions: ours are 1-based (a missing stream is at 0), EventStoreDB's
//     stream revisions are 0-based. Exact(0) means NoStream; Exact(n) is
//     revision n-1.
//   - Positions: Position{Major: commit, Minor: prepare}; $all is ordered by
//     (commit, prepare), so Position.Less is the log order.
//   - Idempotency: event ids are sent as EventStoreDB event ids, so the server
//     turns a retried append into a no-op; the adapter then reads the last
//     event back to report the original append's result.
//   - Metadata: eventstore.Metadata travels as the event's JSON user metadata;
//     RecordedAt is the server's created time.
//   - $all: system events (types or streams beginning with "$") are never
//     returned; with WithStreamPrefixes only the listed stream families are.
//
// Stream ids and event types beginning with "$" are reserved by EventStoreDB
// and rejected with eventstore.ErrInvalidAppend. ReadAll and Subscribe read
// $all, which a secured server lets only admins (or users its ACLs name) do:
// the connection string's user must be one.
package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/google/uuid"

	"github.com/subsd/subsd/eventstore"
)

// Store is the EventStoreDB event store. It is safe for concurrent use; the
// underlying client multiplexes every call over one gRPC connection.
type Store struct {
	client    *esdbclient.Client
	logger    *slog.Logger
	namespace string
	prefixes  []string
	retry     backoff
}

var _ eventstore.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithStreamPrefixes restricts ReadAll and Subscribe to streams whose names
// begin with one of prefixes (for example "subscription-", "shipment-"); the
// subscription filters on the server, so unrelated traffic in a shared
// database is never sent to us. Without it every non-system event is read.
// Append and ReadStream are not restricted.
func WithStreamPrefixes(prefixes ...string) Option {
	return func(s *Store) { s.prefixes = append([]string(nil), prefixes...) }
}

// WithNamespace stores every stream under namespace+stream on the server and
// hides everything outside the namespace from ReadAll and Subscribe, so that
// callers see a store of their own. It exists so that tests (and throwaway
// environments) can share one EventStoreDB server, which cannot be emptied,
// and still each start from an empty store. Stream ids passed to and returned
// from the Store never include the namespace.
func WithNamespace(namespace string) Option {
	return func(s *Store) { s.namespace = namespace }
}

// WithLogger sets where the store and the EventStoreDB client log (dropped
// subscriptions, reconnects). The default is slog.Default().
func WithLogger(logger *slog.Logger) Option {
	return func(s *Store) { s.logger = logger }
}

// New connects to the EventStoreDB at url ("esdb://host:2113?tls=false") and
// checks that it answers before ctx is done. The caller must Close the Store.
func New(ctx context.Context, url string, opts ...Option) (*Store, error) {
	s := &Store{logger: slog.Default(), retry: defaultBackoff}
	for _, opt := range opts {
		opt(s)
	}
	for _, p := range s.prefixes {
		if p == "" || strings.HasPrefix(p, "$") {
			return nil, fmt.Errorf("esdb: invalid stream prefix %q", p)
		}
	}
	if strings.HasPrefix(s.namespace, "$") {
		return nil, fmt.Errorf("esdb: invalid namespace %q", s.namespace)
	}

	cfg, err := esdbclient.ParseConnectionString(url)
	if err != nil {
		return nil, fmt.Errorf("esdb: parsing connection string: %w", err)
	}
	cfg.Logger = slogLogging(s.logger)
	client, err := esdbclient.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("esdb: creating client: %w", err)
	}
	s.client = client
	if err := s.Ping(ctx); err != nil {
		_ = client.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the client connection. Subscriptions still running return an
// error; Close is safe to call more than once.
func (s *Store) Close() error {
	return s.client.Close()
}

// Ping checks that the server answers a read. It reads a stream that does not
// exist, which needs no special permission and no data.
func (s *Store) Ping(ctx context.Context) error {
	rs, err := s.client.ReadStream(ctx, s.namespace+"subsd-ping", esdbclient.ReadStreamOptions{}, 1)
	if err != nil {
		return fmt.Errorf("esdb: ping: %w", err)
	}
	defer rs.Close()
	if _, err := rs.Recv(); err != nil && !errors.Is(err, io.EOF) && !isCode(err, esdbclient.ErrorCodeResourceNotFound) {
		return fmt.Errorf("esdb: ping: %w", err)
	}
	return nil
}

// Append writes events to the end of stream if expected holds, all or
// nothing, with the caller's event ids. A retry with the same ids is turned
// into a no-op by the server; Append then returns the original result. A
// failed condition is reported as eventstore.ErrWrongExpectedVersion (the
// *esdb.Error from the client stays in the chain).
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	if err := validateAppend(stream, events); err != nil {
		return eventstore.AppendResult{}, err
	}
	rev, err := expectedRevision(expected)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	proposed := make([]esdbclient.EventData, len(events))
	for i, e := range events {
		meta, err := encodeMetadata(e.Metadata)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("appending to stream %s: %w", stream, err)
		}
		proposed[i] = esdbclient.EventData{
			EventID:     e.ID,
			EventType:   e.Type,
			ContentType: esdbclient.ContentTypeJson,
			Data:        e.Data,
			Metadata:    meta,
		}
	}

	res, err := s.client.AppendToStream(ctx, s.namespace+stream, esdbclient.AppendToStreamOptions{ExpectedRevision: rev}, proposed...)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("appending to stream %s: %w", stream, mapError(err))
	}

	// The write result is not enough to answer with the position of the last
	// event: an idempotent retry comes back with no position at all, and for
	// several events the reported position may be the transaction's rather
	// than the last event's. Reading the last event back answers both
	// exactly, and checking its id proves that our events are the ones
	// stored there. The server reports the revision of the last event it
	// matched or wrote; should it report the stream's current revision for
	// a late retry instead, the expected revision says where the events are.
	candidates := []uint64{res.NextExpectedVersion}
	switch r := rev.(type) {
	case esdbclient.StreamRevision:
		candidates = append(candidates, r.Value+uint64(len(events)))
	case esdbclient.NoStream:
		candidates = append(candidates, uint64(len(events)-1))
	}
	last, err := s.locate(ctx, stream, events[len(events)-1].ID, candidates)
	if err != nil {
		// The events are stored (or were already): a retry with the same
		// ids is safe and will report the result.
		return eventstore.AppendResult{}, fmt.Errorf("appending to stream %s: the append succeeded but reading back its last event failed: %w", stream, err)
	}
	return eventstore.AppendResult{Version: last.Version, Position: last.Position}, nil
}

// locate returns the event with id among the 0-based revisions candidates
// of stream.
func (s *Store) locate(ctx context.Context, stream string, id uuid.UUID, candidates []uint64) (eventstore.RecordedEvent, error) {
	var errs []error
	for _, rev := range candidates {
		e, err := s.readOne(ctx, stream, rev)
		if err == nil && e.ID == id {
			return e, nil
		}
		if err == nil {
			err = fmt.Errorf("event %s at version %d, not %s", e.ID, e.Version, id)
		}
		errs = append(errs, err)
	}
	return eventstore.RecordedEvent{}, errors.Join(errs...)
}

// readOne reads the event at the 0-based revision rev of stream from the
// leader, which has it as soon as an append returns (a follower, which a
// connection string may prefer for reads, may not yet).
func (s *Store) readOne(ctx context.Context, stream string, rev uint64) (eventstore.RecordedEvent, error) {
	events, err := s.readStream(ctx, stream, rev+1, 1, true)
	if err != nil {
		return eventstore.RecordedEvent{}, err
	}
	if len(events) == 0 {
		return eventstore.RecordedEvent{}, fmt.Errorf("no event at version %d", rev+1)
	}
	return events[0], nil
}

// ReadStream returns at most limit events of stream whose version is ≥ from,
// in version order. A stream that does not exist reads as empty, and so does
// a limit ≤ 0.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	return s.readStream(ctx, stream, from, limit, false)
}

func (s *Store) readStream(ctx context.Context, stream string, from uint64, limit int, fromLeader bool) ([]eventstore.RecordedEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	if from == 0 {
		from = 1
	}
	rs, err := s.client.ReadStream(ctx, s.namespace+stream, esdbclient.ReadStreamOptions{
		Direction:      esdbclient.Forwards,
		From:           esdbclient.Revision(from - 1),
		RequiresLeader: fromLeader,
	}, uint64(limit))
	if err != nil {
		return nil, fmt.Errorf("reading stream %s: %w", stream, mapError(err))
	}
	defer rs.Close()

	var out []eventstore.RecordedEvent
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if isCode(err, esdbclient.ErrorCodeResourceNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading stream %s: %w", stream, mapError(err))
		}
		rec, err := s.recorded(ev.OriginalEvent())
		if err != nil {
			return nil, fmt.Errorf("reading stream %s: %w", stream, err)
		}
		out = append(out, rec)
	}
}

// readAllBatch is how many events ReadAll asks the server for at a time. The
// visibility filter runs on the client (the Go client has no filtered read of
// $all), so a batch may yield fewer events than it reads.
const readAllBatch = 512

// ReadAll returns at most limit events after position after, in global order,
// skipping system events and, with WithStreamPrefixes or WithNamespace, events
// of other streams. Every event of $all is final once written, so the result
// never has gaps that later fill.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	if limit <= 0 {
		return nil, nil
	}
	var out []eventstore.RecordedEvent
	cursor := after
	for len(out) < limit {
		batch := max(limit-len(out), readAllBatch)
		// Reading $all from a position includes the event at that position
		// (subscribing is exclusive); collect skips anything at or before
		// the cursor, so either behaviour is safe.
		rs, err := s.client.ReadAll(ctx, esdbclient.ReadAllOptions{
			Direction: esdbclient.Forwards,
			From:      allPosition(cursor),
		}, uint64(batch))
		if err != nil {
			return nil, fmt.Errorf("reading all after %s: %w", after, mapError(err))
		}
		n, err := s.collect(rs, &cursor, limit, &out)
		rs.Close()
		if err != nil {
			return nil, fmt.Errorf("reading all after %s: %w", after, err)
		}
		if n < batch {
			break // end of the log, or out is full
		}
	}
	return out, nil
}

// collect drains one ReadAll batch into out until out holds limit events,
// advancing cursor over every event it looks at (visible or not). It returns
// how many events it received.
func (s *Store) collect(rs *esdbclient.ReadStream, cursor *eventstore.Position, limit int, out *[]eventstore.RecordedEvent) (int, error) {
	n := 0
	for len(*out) < limit {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, mapError(err)
		}
		n++
		raw := ev.OriginalEvent()
		pos := position(raw.Position)
		if !isAfter(pos, *cursor) {
			continue // the event at the position we asked to read from
		}
		*cursor = pos
		if _, ok := s.visible(raw.StreamID, raw.EventType); !ok {
			continue
		}
		rec, err := s.recorded(raw)
		if err != nil {
			return n, err
		}
		*out = append(*out, rec)
	}
	return n, nil
}

// visible reports whether an event of stream with eventType belongs to this
// store's view of $all, and returns the stream id without the namespace.
func (s *Store) visible(stream, eventType string) (string, bool) {
	if strings.HasPrefix(eventType, "$") || !strings.HasPrefix(stream, s.namespace) {
		return "", false
	}
	local := stream[len(s.namespace):]
	if local == "" || strings.HasPrefix(local, "$") {
		return "", false
	}
	if len(s.prefixes) == 0 {
		return local, true
	}
	for _, p := range s.prefixes {
		if strings.HasPrefix(local, p) {
			return local, true
		}
	}
	return "", false
}

// recorded converts a client event into ours.
func (s *Store) recorded(e *esdbclient.RecordedEvent) (eventstore.RecordedEvent, error) {
	meta, err := decodeMetadata(e.UserMetadata)
	if err != nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("event %s of stream %s: %w", e.EventID, e.StreamID, err)
	}
	return eventstore.RecordedEvent{
		ID:         e.EventID,
		StreamID:   strings.TrimPrefix(e.StreamID, s.namespace),
		Version:    e.EventNumber + 1,
		Position:   position(e.Position),
		Type:       e.EventType,
		Data:       e.Data,
		Metadata:   meta,
		RecordedAt: e.CreatedDate,
	}, nil
}

// validateAppend rejects requests that can never succeed.
func validateAppend(stream string, events []eventstore.EventData) error {
	switch {
	case len(events) == 0:
		return fmt.Errorf("appending to stream %s: no events: %w", stream, eventstore.ErrInvalidAppend)
	case stream == "":
		return fmt.Errorf("appending: empty stream id: %w", eventstore.ErrInvalidAppend)
	case strings.HasPrefix(stream, "$"):
		return fmt.Errorf("appending to stream %s: stream ids beginning with $ are reserved: %w", stream, eventstore.ErrInvalidAppend)
	}
	for i, e := range events {
		switch {
		case e.Type == "":
			return fmt.Errorf("appending to stream %s: event %d: empty type: %w", stream, i, eventstore.ErrInvalidAppend)
		case strings.HasPrefix(e.Type, "$"):
			return fmt.Errorf("appending to stream %s: event %d: types beginning with $ are reserved: %w", stream, i, eventstore.ErrInvalidAppend)
		case e.ID == uuid.Nil:
			// The client would silently make up a random id, which would
			// defeat idempotent retries.
			return fmt.Errorf("appending to stream %s: event %d: nil id: %w", stream, i, eventstore.ErrInvalidAppend)
		case !json.Valid(e.Data):
			return fmt.Errorf("appending to stream %s: event %d: data is not JSON: %w", stream, i, eventstore.ErrInvalidAppend)
		}
	}
	return nil
}

// expectedRevision maps our 1-based expected version to the client's 0-based
// expected revision.
func expectedRevision(expected eventstore.ExpectedVersion) (esdbclient.ExpectedRevision, error) {
	switch v := expected.(type) {
	case eventstore.Any:
		return esdbclient.Any{}, nil
	case eventstore.NoStream:
		return esdbclient.NoStream{}, nil
	case eventstore.Exact:
		if v == 0 {
			return esdbclient.NoStream{}, nil
		}
		return esdbclient.Revision(uint64(v) - 1), nil
	default:
		// Only a nil interface gets here: the set is closed.
		return nil, fmt.Errorf("appending: expected version %v: %w", expected, eventstore.ErrInvalidAppend)
	}
}

// encodeMetadata renders metadata as the event's JSON user metadata.
func encodeMetadata(m eventstore.Metadata) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encoding metadata: %w", err)
	}
	return b, nil
}

// decodeMetadata reads user metadata written by encodeMetadata. Empty
// metadata (an event written by another tool) decodes to the zero value.
func decodeMetadata(b []byte) (eventstore.Metadata, error) {
	var m eventstore.Metadata
	if len(b) == 0 {
		return m, nil
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return eventstore.Metadata{}, fmt.Errorf("decoding metadata: %w", err)
	}
	if !m.OccurredAt.IsZero() {
		m.OccurredAt = m.OccurredAt.UTC()
	}
	return m, nil
}

// mapError turns the client's wrong-expected-version error into ours, keeping
// the original in the chain for logs and errors.As.
func mapError(err error) error {
	var e *esdbclient.Error
	if !errors.As(err, &e) {
		return err
	}
	return mapCode(e.Code(), err)
}

// mapCode maps an error the client reported with code. It is separate from
// mapError because the client offers no way to build an *esdb.Error with a
// given code outside its package, and the mapping deserves a test.
func mapCode(code esdbclient.ErrorCode, err error) error {
	if code == esdbclient.ErrorCodeWrongExpectedVersion {
		return fmt.Errorf("%w: %w", eventstore.ErrWrongExpectedVersion, err)
	}
	return err
}

// isCode reports whether err carries an *esdb.Error with code.
func isCode(err error, code esdbclient.ErrorCode) bool {
	var e *esdbclient.Error
	return errors.As(err, &e) && e.Code() == code
}

func position(p esdbclient.Position) eventstore.Position {
	return eventstore.Position{Major: p.Commit, Minor: p.Prepare}
}

// allPosition is where to start reading or subscribing to $all: Start must be
// esdb.Start{} (subscriptions default to the end of the log when given none).
func allPosition(p eventstore.Position) esdbclient.AllPosition {
	if p == eventstore.Start {
		return esdbclient.Start{}
	}
	return esdbclient.Position{Commit: p.Major, Prepare: p.Minor}
}

// isAfter reports whether an event at p comes after position after; every
// event comes after Start.
func isAfter(p, after eventstore.Position) bool {
	return after == eventstore.Start || after.Less(p)
}

// slogLogging routes the client's printf-style log lines to logger. The
// client logs every dropped subscription as an error, including the ones a
// cancelled context causes; those are ours to judge, so the client's own
// errors are logged at warn.
func slogLogging(logger *slog.Logger) esdbclient.LoggingFunc {
	return func(level esdbclient.LogLevel, format string, args ...any) {
		l := slog.LevelDebug
		switch level {
		case esdbclient.LogInfo:
			l = slog.LevelInfo
		case esdbclient.LogWarn, esdbclient.LogError:
			l = slog.LevelWarn
		}
		logger.Log(context.Background(), l, "esdb client: "+fmt.Sprintf(format, args...))
	}
}
