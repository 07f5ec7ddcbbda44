package http

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/projections"
)

// This file holds the auditors' endpoints (API.md "Auditors"): the event log
// in global order, one stream with its hash chain, a customer's history,
// and the customer page as of a time. Each reads the event log itself
// (Server.log), never today's read model: the read models serve only the
// customer_streams index that says which streams are a customer's.

// errNoEventStore answers the auditors' endpoints of a Server without an
// event store.
var errNoEventStore = &domain.Error{Kind: kindUnavailable, Code: "event_store_unavailable", Message: "this server has no event store to read"}

// errStreamNotFound is the 404 of GET /v1/streams/{stream}.
var errStreamNotFound = domain.NotFound("stream_not_found", "the stream has no events")

// log is the store the auditors' endpoints read: Log, else Store.
func (s *Server) log() eventstore.Store {
	if s.Log != nil {
		return s.Log
	}
	return s.Store
}

// auditEvent is one event as the auditors' endpoints show it. position is
// the event's position token as a JSON integer (the PostgreSQL store's
// always are; a store whose positions do not fit one, EventStoreDB's, gives
// the "major/minor" string), the form ?after= takes back. hash and
// previous_hash (hex) are shown by GET /v1/streams/{stream} only: null for a
// store that keeps no hash chain.
type auditEvent struct {
	Position      json.RawMessage `json:"position"`
	ID            string          `json:"id"`
	Stream        string          `json:"stream"`
	Version       uint64          `json:"version"`
	Type          string          `json:"type"`
	OccurredAt    *time.Time      `json:"occurred_at"`
	RecordedAt    time.Time       `json:"recorded_at"`
	Actor         *string         `json:"actor"`
	CorrelationID *string         `json:"correlation_id"`
	CausationID   *string         `json:"causation_id"`
	Data          json.RawMessage `json:"data"`
	Hash          *string         `json:"hash,omitempty"`
	PreviousHash  *string         `json:"previous_hash,omitempty"`
	// withHashes makes hash and previous_hash present (null when empty).
	withHashes bool
}

// MarshalJSON writes the event, with hash and previous_hash as null rather
// than absent on the stream endpoint.
func (e auditEvent) MarshalJSON() ([]byte, error) {
	type plain auditEvent
	if !e.withHashes {
		return json.Marshal(plain(e))
	}
	return json.Marshal(struct {
		plain
		Hash         *string `json:"hash"`
		PreviousHash *string `json:"previous_hash"`
	}{plain(e), e.Hash, e.PreviousHash})
}

func newAuditEvent(e eventstore.RecordedEvent, data []byte) auditEvent {
	out := auditEvent{
		Position:      positionJSON(e.Position),
		ID:            e.ID.String(),
		Stream:        e.StreamID,
		Version:       e.Version,
		Type:          e.Type,
		RecordedAt:    e.RecordedAt.UTC(),
		Actor:         nonEmpty(e.Metadata.Actor),
		CorrelationID: nonEmpty(e.Metadata.CorrelationID),
		CausationID:   nonEmpty(e.Metadata.CausationID),
		Data:          data,
	}
	if !e.Metadata.OccurredAt.IsZero() {
		t := e.Metadata.OccurredAt.UTC()
		out.OccurredAt = &t
	}
	if !json.Valid(out.Data) {
		// Not reachable with the PostgreSQL store, which stores JSON only;
		// an event is still shown rather than the page failing.
		out.Data, _ = json.Marshal(string(data))
	}
	return out
}

// positionJSON renders a position token as a JSON integer when it is one.
func positionJSON(p eventstore.Position) json.RawMessage {
	return tokenJSON(p.Token())
}

// tokenJSON renders a position token as a JSON integer when it is one (the
// PostgreSQL store's, as in X-Event-Position), else as a string.
func tokenJSON(token string) json.RawMessage {
	if _, err := strconv.ParseUint(token, 10, 64); err == nil {
		return json.RawMessage(token)
	}
	quoted, _ := json.Marshal(token)
	return quoted
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func hexHash(h []byte) *string {
	if len(h) == 0 {
		return nil
	}
	s := hex.EncodeToString(h)
	return &s
}

// eventPage is API.md's list envelope of events.
type eventPage struct {
	Data       []auditEvent `json:"data"`
	HasMore    bool         `json:"has_more"`
	NextCursor string       `json:"next_cursor"`
}

// afterParam reads the position a page of the global order starts after:
// ?after= (a position token: an event's position, an X-Event-Position) or
// ?cursor= (a next_cursor, which is the same token), not both; neither is
// the start of the log.
func afterParam(r *http.Request) (eventstore.Position, error) {
	q := r.URL.Query()
	after, cursor := q.Get("after"), q.Get("cursor")
	name, raw := "after", after
	switch {
	case after != "" && cursor != "":
		return eventstore.Position{}, domain.Invalid("cursor", "give after or cursor, not both")
	case cursor != "":
		name, raw = "cursor", cursor
	case raw == "":
		return eventstore.Start, nil
	}
	pos, err := eventstore.ParseToken(raw)
	if err != nil {
		return eventstore.Position{}, domain.Invalid(name, "%s must be an event's position (or a next_cursor), got %q", name, raw)
	}
	return pos, nil
}

// nonEmptyValues returns the query parameter's values that are not empty:
// ?stream=a&stream=b filters by either.
func nonEmptyValues(r *http.Request, name string) []string {
	var out []string
	for _, v := range r.URL.Query()[name] {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// handleListEvents is GET /v1/events?after=&limit=&stream=&type=: the event
// log in global order, paged by position (next_cursor is the last event's
// position), filtered by stream and type (each repeatable: any of them).
// Events are shown as stored, without upcasting: this is the log itself.
func (s *Server) handleListEvents(w http.ResponseWriter, r *http.Request) {
	limit, err := listLimit(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	after, err := afterParam(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.log() == nil {
		s.writeError(w, r, errNoEventStore)
		return
	}
	if err := s.waitMinPosition(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	f := eventstore.Filter{Streams: nonEmptyValues(r, "stream"), Types: nonEmptyValues(r, "type")}
	events, err := eventstore.ReadFiltered(r.Context(), s.log(), after, limit+1, f)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page := eventPage{Data: make([]auditEvent, 0, min(len(events), limit))}
	for i, e := range events {
		if i == limit {
			page.HasMore, page.NextCursor = true, events[i-1].Position.Token()
			break
		}
		page.Data = append(page.Data, newAuditEvent(e, e.Data))
	}
	writeJSON(w, http.StatusOK, page)
}

// handleGetStream is GET /v1/streams/{stream}?limit=&cursor=: one stream's
// events in version order, as stored, each with its hash and the hash it
// chains from (previous_hash: the previous event's, 64 zeros for version 1),
// so that an auditor can check the chain (see eventstore/postgres's
// migration 002 for the bytes hashed). next_cursor is the next version. A
// stream without events is 404 stream_not_found.
func (s *Server) handleGetStream(w http.ResponseWriter, r *http.Request) {
	limit, err := listLimit(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	from := uint64(1)
	if c := r.URL.Query().Get("cursor"); c != "" {
		from, err = strconv.ParseUint(c, 10, 63)
		if err != nil || from < 1 {
			s.writeError(w, r, domain.Invalid("cursor", "cursor must be the next_cursor of a previous page"))
			return
		}
	}
	if s.log() == nil {
		s.writeError(w, r, errNoEventStore)
		return
	}
	if err := s.waitMinPosition(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	stream := pathVar(r, "stream")
	// One event more on each side: the one before gives the first
	// previous_hash, the one after tells whether more follow.
	start := max(from-1, 1)
	events, err := s.log().ReadStream(r.Context(), stream, start, limit+2)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var prev []byte
	if from == 1 {
		if len(events) == 0 {
			s.writeError(w, r, errStreamNotFound)
			return
		}
		if len(events[0].Hash) > 0 {
			prev = make([]byte, len(events[0].Hash))
		}
	} else if len(events) > 0 && events[0].Version == from-1 {
		prev, events = events[0].Hash, events[1:]
	}
	page := eventPage{Data: make([]auditEvent, 0, min(len(events), limit))}
	for i, e := range events {
		if i == limit {
			page.HasMore, page.NextCursor = true, strconv.FormatUint(e.Version, 10)
			break
		}
		ae := newAuditEvent(e, e.Data)
		ae.withHashes, ae.Hash, ae.PreviousHash = true, hexHash(e.Hash), hexHash(prev)
		page.Data = append(page.Data, ae)
		prev = e.Hash
	}
	writeJSON(w, http.StatusOK, page)
}

// handleCustomerHistory is GET /v1/customers/{id}/history?after=&limit=:
// every event of the customer's streams (customer, subscriptions, orders,
// invoices, emails) merged in global order, paged like GET /v1/events.
// Data is shown in its current shape (upcast, as the projections and
// as_of see it); GET /v1/streams/{stream} shows the stored bytes.
func (s *Server) handleCustomerHistory(w http.ResponseWriter, r *http.Request) {
	limit, err := listLimit(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	after, err := afterParam(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if s.log() == nil {
		s.writeError(w, r, errNoEventStore)
		return
	}
	if err := s.waitMinPosition(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	events, more, err := s.Reader.CustomerHistory(r.Context(), s.log(), pathVar(r, "id"), after, limit)
	if errors.Is(err, projections.ErrNotFound) {
		err = customer.ErrCustomerNotFound
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page := eventPage{Data: make([]auditEvent, 0, len(events))}
	for _, e := range events {
		data, err := projections.CurrentData(e)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		page.Data = append(page.Data, newAuditEvent(e, data))
	}
	if more {
		page.HasMore, page.NextCursor = true, events[len(events)-1].Position.Token()
	}
	writeJSON(w, http.StatusOK, page)
}

// handleGetCustomerAsOf is GET /v1/customers/{id}?as_of=<RFC 3339>: the
// customer detail page as it stood then, folded from the log by the live
// page's own projection code (projections.Reader.CustomerAsOf). as_of that
// is not an RFC 3339 time is 400 naming as_of; a customer that did not
// exist yet is 404.
func (s *Server) handleGetCustomerAsOf(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.Query().Get("as_of")
	at, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		s.writeError(w, r, domain.Invalid("as_of", "as_of must be an RFC 3339 time such as 2026-11-21T10:00:00Z, got %q", raw))
		return
	}
	if s.log() == nil {
		s.writeError(w, r, errNoEventStore)
		return
	}
	if err := s.waitMinPosition(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	doc, err := s.Reader.CustomerAsOf(r.Context(), s.log(), pathVar(r, "id"), at)
	s.writeDoc(w, r, doc, customer.ErrCustomerNotFound, err)
}
