package http

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/gorilla/mux"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/projections"
)

// This file holds what the resource handlers (handlers_*.go) share: path
// parameters, the answer of a write (the affected document as its page's
// projection shows it once it has caught up with the write), the answer of
// a read, and list parameters.

// pathVar returns the path parameter name of r's route.
func pathVar(r *http.Request, name string) string { return mux.Vars(r)[name] }

// decodeNoBody accepts an empty body or {} for commands that take no
// input, and refuses anything else as decodeJSON does (unknown_field).
func decodeNoBody(w http.ResponseWriter, r *http.Request) error {
	var none struct{}
	return decodeJSON(w, r, &none)
}

// docLoader reads one page's document from the read models.
type docLoader func(ctx context.Context) (projections.Doc, error)

// writeCommandDoc answers a write with the affected document: it waits
// (at most minPositionTimeout) until the read models have applied the
// write's last event at pos, then reads the document from its projection,
// so the answer is byte for byte what a GET returns (API.md's shapes live
// in one place, the projection). X-Event-Position is pos, ETag the
// document's version.
//
// When the read models lag behind for longer, the write has nevertheless
// happened: the answer keeps its status and carries fallback (the id and
// version) instead of the document, with X-Event-Position, so the client
// can GET the document with X-Min-Position.
func (s *Server) writeCommandDoc(w http.ResponseWriter, r *http.Request, status int, pos eventstore.Position, load docLoader, fallback any) {
	doc, err := s.readAfter(r.Context(), pos, load)
	if err != nil {
		// Answered even when the client is gone: the Idempotency-Key
		// record keeps what is written here for the client's retry.
		s.logger().WarnContext(r.Context(), "answering a write without its document", "path", r.URL.Path, "position", pos.Token(), "err", err)
		s.writeCommandResult(w, r, status, fallback, pos)
		return
	}
	w.Header().Set("ETag", etag(doc.Version))
	s.writeCommandResult(w, r, status, json.RawMessage(doc.JSON), pos)
}

// readAfter waits for the read models to reach pos and reads a document.
func (s *Server) readAfter(ctx context.Context, pos eventstore.Position, load docLoader) (projections.Doc, error) {
	wctx, cancel := context.WithTimeout(ctx, minPositionTimeout)
	defer cancel()
	if pos != (eventstore.Position{}) {
		if err := s.Reader.WaitFor(wctx, pos); err != nil {
			return projections.Doc{}, err
		}
	}
	return load(ctx)
}

// writeDoc answers a GET with a stored document, as stored: its bytes are
// not decoded and encoded again.
func (s *Server) writeDoc(w http.ResponseWriter, r *http.Request, doc projections.Doc, notFound error, err error) {
	if err != nil {
		if errors.Is(err, projections.ErrNotFound) {
			err = notFound
		}
		s.writeError(w, r, err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	if doc.Version > 0 {
		h.Set("ETag", etag(doc.Version))
	}
	// The length is known: the body goes out in one piece, not chunked.
	h.Set("Content-Length", strconv.Itoa(len(doc.JSON)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(doc.JSON)
}

// writePage answers a GET of a list with API.md's envelope.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, page projections.Page, err error) {
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	data := page.Data
	if data == nil {
		data = []json.RawMessage{}
	}
	writeJSON(w, http.StatusOK, listResponse{Data: data, HasMore: page.HasMore, NextCursor: page.NextCursor})
}

// listResponse is API.md's list envelope.
type listResponse struct {
	Data       []json.RawMessage `json:"data"`
	HasMore    bool              `json:"has_more"`
	NextCursor string            `json:"next_cursor"`
}

// The list limits of API.md.
const (
	defaultListLimit = 20
	maxListLimit     = 100
)

// listLimit reads ?limit= (default 20, 1..100; anything else is 400
// invalid_field naming limit).
func listLimit(r *http.Request) (int, error) {
	raw := r.URL.Query().Get("limit")
	if raw == "" {
		return defaultListLimit, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > maxListLimit {
		return 0, domain.Invalid("limit", "limit must be an integer from 1 to %d, got %q", maxListLimit, raw)
	}
	return n, nil
}

// etag renders a document version as an ETag, which If-Match accepts back.
func etag(version uint64) string { return `"` + strconv.FormatUint(version, 10) + `"` }

// idVersion is the fallback body of a write whose document could not be
// read back in time.
type idVersion struct {
	ID      string `json:"id"`
	Version uint64 `json:"version"`
}

// nullable is a request field that distinguishes absent (Set false), null
// (Set, Value nil) and a value: PATCH uses null to remove a field. The
// value is decoded as strictly as the body around it.
type nullable[T any] struct {
	Set   bool
	Value *T
}

// UnmarshalJSON implements json.Unmarshaler; it is only called when the
// field is present.
func (n *nullable[T]) UnmarshalJSON(b []byte) error {
	n.Set = true
	if string(b) == "null" {
		n.Value = nil
		return nil
	}
	var v T
	if err := decodeBody(b, &v); err != nil {
		return err
	}
	n.Value = &v
	return nil
}

// required is the 400 of a required field that is missing.
func required(field string) error {
	return domain.Invalid(field, "%s is required", field)
}
