package postgres

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/subsd/subsd/eventstore"
)

var (
	_ eventstore.FilteredReader = (*Store)(nil)
	_ eventstore.Verifier       = (*Store)(nil)
)

// The filtered reads. Like readAll they return only events below the xmin
// horizon, in global order.
//
// With streams the events are found through the (stream_id, version) index,
// one probe per stream (a lateral join, so the plan cannot turn into a scan
// of the whole log in global order that filters by stream: a customer's
// few hundred events are sparse in a large log), and the matches are
// sorted; without, the log is read in global order and filtered by type,
// which reads as far as it takes to find limit events.
const (
	horizon = `pg_snapshot_xmin(pg_current_snapshot())`

	readByType = `SELECT ` + eventColumns + `
FROM eventstore_events
WHERE (tx_id, tx_index) > ($1::xid8, $2::integer)
	AND tx_id < ` + horizon + `
	AND type = ANY($4::text[])
ORDER BY tx_id, tx_index
LIMIT $3`

	readByStream = `SELECT e.tx_id, e.tx_index, e.event_id, e.stream_id, e.version, e.type, e.data, e.metadata, e.recorded_at, e.hash
FROM (SELECT DISTINCT unnest($4::text[]) AS stream_id) AS s,
	(SELECT ` + horizon + ` AS xmin) AS h,
	LATERAL (
		SELECT * FROM eventstore_events x
		WHERE x.stream_id = s.stream_id AND (x.tx_id, x.tx_index) > ($1::xid8, $2::integer) AND x.tx_id < h.xmin
	) AS e
WHERE cardinality($5::text[]) = 0 OR e.type = ANY($5::text[])
ORDER BY e.tx_id, e.tx_index
LIMIT $3`
)

// ReadFiltered returns at most limit events after position after that f
// selects, in global order, as eventstore.FilteredReader describes: one
// statement, held back by older running transactions like ReadAll.
func (s *Store) ReadFiltered(ctx context.Context, after eventstore.Position, limit int, f eventstore.Filter) ([]eventstore.RecordedEvent, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("reading filtered events after %s: limit %d is not positive", after, limit)
	}
	minor, ok := afterMinor(after)
	if !ok {
		return nil, nil
	}
	var (
		rows pgx.Rows
		err  error
	)
	types := f.Types
	if types == nil {
		types = []string{}
	}
	switch {
	case len(f.Streams) > 0:
		rows, err = s.pool.Query(ctx, readByStream, after.Major, minor, limit, f.Streams, types)
	case len(f.Types) > 0:
		rows, err = s.pool.Query(ctx, readByType, after.Major, minor, limit, f.Types)
	default:
		rows, err = s.pool.Query(ctx, readAll, after.Major, minor, limit)
	}
	if err != nil {
		return nil, fmt.Errorf("reading filtered events after %s: %w", after, err)
	}
	events, err := scanEvents(rows, limit)
	if err != nil {
		return nil, fmt.Errorf("reading filtered events after %s: %w", after, err)
	}
	return events, nil
}

// hashSize is the size of an event's hash (SHA-256).
const hashSize = sha256.Size

// genesisHash is the previous hash of a stream's first event.
var genesisHash = make([]byte, hashSize)

// eventHasher computes event hashes exactly as the append statement does
// (eventstore_event_hash in migrations/002_hash_chain.sql, whose comment
// defines the bytes hashed). It reuses its buffers; it is not safe for
// concurrent use.
type eventHasher struct {
	h   hash.Hash
	buf [8]byte
	sum []byte
}

func newEventHasher() *eventHasher {
	return &eventHasher{h: sha256.New(), sum: make([]byte, 0, hashSize)}
}

// hash returns the hash of an event; the result is valid until the next
// call.
func (x *eventHasher) hash(prev []byte, version int64, id [16]byte, stream, typ string, data, metadata []byte) []byte {
	h := x.h
	h.Reset()
	h.Write(prev)
	binary.BigEndian.PutUint64(x.buf[:], uint64(version))
	h.Write(x.buf[:8])
	h.Write(id[:])
	x.writeLen(len(stream))
	_, _ = io.WriteString(h, stream)
	x.writeLen(len(typ))
	_, _ = io.WriteString(h, typ)
	x.writeLen(len(data))
	h.Write(data)
	x.writeLen(len(metadata))
	h.Write(metadata)
	x.sum = h.Sum(x.sum[:0])
	return x.sum
}

func (x *eventHasher) writeLen(n int) {
	binary.BigEndian.PutUint32(x.buf[:4], uint32(n))
	x.h.Write(x.buf[:4])
}

// verifyPageSize is how many events Verify reads per statement.
const verifyPageSize = 10000

const (
	// verifyPage reads the events of every stream in (stream, version)
	// order, keyset-paged, along the (stream_id, version) index. Metadata is
	// read as the text it is stored as, which is what was hashed.
	verifyPage = `SELECT stream_id, version, event_id, type, data, metadata::text, hash, tx_id, tx_index
FROM eventstore_events
WHERE (stream_id, version) > ($1, $2)
ORDER BY stream_id, version
LIMIT $3`

	verifyFirstPage = `SELECT stream_id, version, event_id, type, data, metadata::text, hash, tx_id, tx_index
FROM eventstore_events
ORDER BY stream_id, version
LIMIT $1`

	// verifyHeads reads the head (version and hash) that eventstore_streams
	// holds for streams whose events have been walked.
	verifyHeads = `SELECT stream_id, version, hash FROM eventstore_streams WHERE stream_id = ANY($1::text[])`

	// verifyOrphans finds stream rows without a single event: a stream
	// whose events were all deleted.
	verifyOrphans = `SELECT stream_id, version FROM eventstore_streams s
WHERE NOT EXISTS (SELECT FROM eventstore_events e WHERE e.stream_id = s.stream_id)
ORDER BY stream_id`
)

// Verify walks every stream's events in version order and checks each link
// of its hash chain: that versions run 1, 2, 3, ... without a gap; that each
// event's stored hash is the hash of its stored bytes chained from the
// previous event's stored hash; and that the stream's row in
// eventstore_streams names its last event and that event's hash. It reports
// the first broken link of each stream (eventstore.VerifyReport).
//
// What a chain in the database cannot show: a stream deleted whole, events
// and stream row together, or a stream whose every hash from some event on
// was recomputed along with its row's head by someone who knows the
// encoding. Only heads kept outside the database (copied elsewhere from
// time to time) would show those; this store does not do that.
//
// It runs in one read-only REPEATABLE READ transaction, so it sees one
// consistent state while appends go on; being read-only, that transaction
// takes no transaction id and holds back no reader of the global order.
func (s *Store) Verify(ctx context.Context, opts eventstore.VerifyOptions) (eventstore.VerifyReport, error) {
	if opts.MaxBroken <= 0 {
		opts.MaxBroken = 100
	}
	var report eventstore.VerifyReport
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		v := &verifier{tx: tx, opts: opts, report: &report, hasher: newEventHasher(), lastProgress: time.Now()}
		return v.run(ctx)
	})
	if err != nil {
		return report, fmt.Errorf("verifying the event store's hash chains: %w", err)
	}
	return report, nil
}

// verifier is the state of one Verify.
type verifier struct {
	tx     pgx.Tx
	opts   eventstore.VerifyOptions
	report *eventstore.VerifyReport
	hasher *eventHasher

	// The stream being walked.
	stream  string
	version int64
	prev    []byte
	broken  bool
	lastID  uuid.UUID
	lastPos eventstore.Position

	// done holds the walked streams whose heads are still to be checked.
	done         []walked
	lastProgress time.Time
}

// walked is a stream whose events have all been walked.
type walked struct {
	stream  string
	version int64
	hash    []byte
	id      uuid.UUID
	pos     eventstore.Position
	broken  bool
}

func (v *verifier) run(ctx context.Context) error {
	var (
		stream  string
		version int64
		first   = true
	)
	for {
		var (
			rows pgx.Rows
			err  error
		)
		if first {
			rows, err = v.tx.Query(ctx, verifyFirstPage, verifyPageSize)
		} else {
			rows, err = v.tx.Query(ctx, verifyPage, stream, version, verifyPageSize)
		}
		first = false
		if err != nil {
			return err
		}
		n, err := v.page(rows)
		if err != nil {
			return err
		}
		if err := v.checkHeads(ctx); err != nil {
			return err
		}
		if v.opts.Progress != nil && time.Since(v.lastProgress) > time.Second {
			v.opts.Progress(v.report.Events)
			v.lastProgress = time.Now()
		}
		if n < verifyPageSize {
			break
		}
		stream, version = v.stream, v.version
	}
	if v.stream != "" {
		v.finishStream()
	}
	if err := v.checkHeads(ctx); err != nil {
		return err
	}
	if err := v.checkOrphans(ctx); err != nil {
		return err
	}
	if v.opts.Progress != nil {
		v.opts.Progress(v.report.Events)
	}
	return nil
}

// page walks one page of events and returns how many it held.
func (v *verifier) page(rows pgx.Rows) (int, error) {
	defer rows.Close()
	var (
		n        int
		stream   string
		version  int64
		id       pgtype.UUID
		typ      string
		data     []byte
		metadata []byte
		stored   []byte
		txID     uint64
		txIndex  int64
	)
	for rows.Next() {
		if err := rows.Scan(&stream, &version, &id, &typ, &data, &metadata, &stored, &txID, &txIndex); err != nil {
			return n, err
		}
		n++
		v.report.Events++
		pos := eventstore.Position{Major: txID, Minor: uint64(txIndex)}
		if stream != v.stream || v.prev == nil {
			if v.stream != "" {
				v.finishStream()
			}
			v.stream, v.version, v.prev, v.broken = stream, 0, genesisHash, false
			v.report.Streams++
		}
		if !v.broken {
			switch {
			case version != v.version+1 && v.version == 0:
				v.breakAt(version, id.Bytes, pos, fmt.Sprintf("the stream starts at version %d: events 1 to %d are missing", version, version-1))
			case version != v.version+1:
				v.breakAt(version, id.Bytes, pos, fmt.Sprintf("version %d follows version %d: the events between are missing", version, v.version))
			default:
				want := v.hasher.hash(v.prev, version, id.Bytes, stream, typ, data, metadata)
				if !bytes.Equal(want, stored) {
					v.breakAt(version, id.Bytes, pos, "the stored hash does not match the event's stored bytes chained from the previous event's hash: the event (its data, metadata, type, id or version) or its hash was changed")
				}
			}
		}
		// The next link is checked against this event's stored hash, so
		// one changed event is reported once, as itself.
		v.version, v.lastID, v.lastPos = version, id.Bytes, pos
		v.prev = append(v.prev[:0:0], stored...)
	}
	return n, rows.Err()
}

func (v *verifier) breakAt(version int64, id uuid.UUID, pos eventstore.Position, reason string) {
	v.broken = true
	v.addBroken(eventstore.BrokenLink{Stream: v.stream, Version: uint64(version), EventID: id, Position: pos, Reason: reason})
}

func (v *verifier) addBroken(b eventstore.BrokenLink) {
	v.report.BrokenStreams++
	if len(v.report.Broken) < v.opts.MaxBroken {
		v.report.Broken = append(v.report.Broken, b)
	}
}

// finishStream queues the walked stream for the check of its head.
func (v *verifier) finishStream() {
	v.done = append(v.done, walked{stream: v.stream, version: v.version, hash: v.prev, id: v.lastID, pos: v.lastPos, broken: v.broken})
	v.stream, v.prev = "", nil
}

// checkHeads compares the streams walked since the last call with their
// rows in eventstore_streams.
func (v *verifier) checkHeads(ctx context.Context) error {
	if len(v.done) == 0 {
		return nil
	}
	names := make([]string, len(v.done))
	for i, w := range v.done {
		names[i] = w.stream
	}
	type head struct {
		version int64
		hash    []byte
	}
	heads := make(map[string]head, len(names))
	rows, err := v.tx.Query(ctx, verifyHeads, names)
	if err != nil {
		return err
	}
	for rows.Next() {
		var (
			name string
			h    head
		)
		if err := rows.Scan(&name, &h.version, &h.hash); err != nil {
			rows.Close()
			return err
		}
		heads[name] = h
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, w := range v.done {
		if w.broken {
			continue
		}
		h, ok := heads[w.stream]
		b := eventstore.BrokenLink{Stream: w.stream, Version: uint64(w.version), EventID: w.id, Position: w.pos}
		switch {
		case !ok:
			b.Reason = "the stream has events but no row in eventstore_streams"
		case h.version > w.version:
			b.Version, b.EventID, b.Position = uint64(w.version+1), uuid.Nil, eventstore.Position{}
			b.Reason = fmt.Sprintf("the stream's row says version %d but its last event is version %d: the events after it are missing", h.version, w.version)
		case h.version < w.version:
			b.Reason = fmt.Sprintf("the stream's row says version %d but it holds events up to version %d: events were added behind the store's back", h.version, w.version)
		case !bytes.Equal(h.hash, w.hash):
			b.Reason = "the stream's row holds another head hash than its last event's: the row or the event's hash was changed"
		default:
			continue
		}
		v.addBroken(b)
	}
	v.done = v.done[:0]
	return nil
}

// checkOrphans reports stream rows without events.
func (v *verifier) checkOrphans(ctx context.Context) error {
	rows, err := v.tx.Query(ctx, verifyOrphans)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			name    string
			version int64
		)
		if err := rows.Scan(&name, &version); err != nil {
			return err
		}
		v.report.Streams++
		v.addBroken(eventstore.BrokenLink{Stream: name, Version: 1, Reason: fmt.Sprintf("the stream's row says version %d but the stream has no events: they were deleted", version)})
	}
	return rows.Err()
}
