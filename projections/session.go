package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Session is where a projection keeps its state while it applies events:
// named states (kind, id), each a Go value that Apply reads with Get and
// writes back with Put, and from which Render makes the documents.
//
// A Session has two backings, and Apply cannot tell them apart:
//
//   - transaction-backed (live, and a rebuild's catch-up): Get reads the
//     state row from the projection's schema inside the eventrouter's
//     transaction and decodes it; at the end of the event the session writes
//     every state that was Put, and its rendered document, in one round
//     trip, so rows and checkpoint commit together.
//   - memory-backed (rebuild, and as_of): states live in a map as Go values,
//     so applying an event is only the Go code of Apply: no decoding, no SQL.
//     Documents are rendered once per state, at the end, and bulk-written
//     with COPY (rebuild) or returned (as_of).
//
// States are stored as JSON (encoding/json); a state type must round-trip
// exactly through it, which the replay-equals-live test checks for every
// state the random scenario reaches. A Session is used by one goroutine.
type Session struct {
	p      Projection
	states map[key]*entry
	// dirty lists the keys Put since the last write, in first-Put order
	// (transaction-backed only), so rows are written in a fixed order.
	dirty []key
	tx    pgx.Tx
	sql   *schemaSQL
	// history reads a customer's history again when the customer is
	// erased (erasure.go); nil when the store offers none.
	history CustomerHistory
}

type key struct{ kind, id string }

type entry struct {
	v     any // *S; nil when the state does not exist
	dirty bool
}

// newMemorySession returns a memory-backed session for p.
func newMemorySession(p Projection) *Session {
	return &Session{p: p, states: make(map[key]*entry, 1024)}
}

// newTxSession returns a session for p backed by tx and the projection
// tables in schema.
func newTxSession(p Projection, tx pgx.Tx, schema string) *Session {
	return &Session{p: p, states: make(map[key]*entry, 8), tx: tx, sql: sqlFor(schema)}
}

// Get returns the state stored under (kind, id), or nil when there is none.
// The returned value belongs to the session: change it and Put it back.
func Get[S any](ctx context.Context, s *Session, kind, id string) (*S, error) {
	k := key{kind, id}
	if e, ok := s.states[k]; ok {
		if e.v == nil {
			return nil, nil
		}
		v, ok := e.v.(*S)
		if !ok {
			return nil, fmt.Errorf("projections: state %s/%s is a %T, not a %T", kind, id, e.v, (*S)(nil))
		}
		return v, nil
	}
	if s.tx == nil {
		return nil, nil
	}
	var raw []byte
	err := s.tx.QueryRow(ctx, s.sql.getState, kind, id).Scan(&raw)
	if errors.Is(err, pgx.ErrNoRows) {
		s.states[k] = &entry{}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("projections: reading state %s/%s: %w", kind, id, err)
	}
	v := new(S)
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("projections: decoding state %s/%s: %w", kind, id, err)
	}
	s.states[k] = &entry{v: v}
	return v, nil
}

// Put stores v under (kind, id). In a transaction-backed session it is
// written, with its document, when the event is done.
func Put[S any](s *Session, kind, id string, v *S) {
	s.put(key{kind, id}, v)
}

// put stores v (a *S) under k: Put for a state of any type.
func (s *Session) put(k key, v any) {
	e := s.states[k]
	if e == nil {
		e = &entry{}
		s.states[k] = e
	}
	e.v = v
	if s.tx != nil && !e.dirty {
		e.dirty = true
		s.dirty = append(s.dirty, k)
	}
}

// queueWrites queues on b the writes of every state Put since the last call,
// and of their documents, and forgets that they were Put.
func (s *Session) queueWrites(b *pgx.Batch) error {
	for _, k := range s.dirty {
		e := s.states[k]
		e.dirty = false
		raw, err := json.Marshal(e.v)
		if err != nil {
			return fmt.Errorf("projections: encoding state %s/%s: %w", k.kind, k.id, err)
		}
		b.Queue(s.sql.putState, k.kind, k.id, raw)
		doc, ok, err := s.p.Render(k.kind, k.id, e.v)
		if err != nil {
			return fmt.Errorf("projections: rendering %s/%s: %w", k.kind, k.id, err)
		}
		if ok {
			b.Queue(s.sql.putDocument, docArgs(k.id, doc)...)
		}
	}
	s.dirty = s.dirty[:0]
	return nil
}

// apply applies e (decoded) to the session's projection.
func (s *Session) apply(ctx context.Context, e Event) error {
	if err := s.refoldErased(ctx, e); err != nil {
		return fmt.Errorf("projection %s: applying %s %s@%d at %s: %w", s.p.Name(), e.Type, e.StreamID, e.Version, e.Position, err)
	}
	if !s.p.Handles(e.Type) {
		return nil // an erasure, which every session sees (handles)
	}
	if err := s.p.Apply(ctx, s, e); err != nil {
		return fmt.Errorf("projection %s: applying %s %s@%d at %s: %w", s.p.Name(), e.Type, e.StreamID, e.Version, e.Position, err)
	}
	return nil
}

// render renders the document of the state under (kind, id), if it has one.
func (s *Session) render(kind, id string) (Document, bool, error) {
	e, ok := s.states[key{kind, id}]
	if !ok || e.v == nil {
		return Document{}, false, nil
	}
	return s.p.Render(kind, id, e.v)
}
