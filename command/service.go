package command

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/eventstore"
)

// Deps is what a Service needs. Store and Pool are required; the others
// have defaults.
type Deps struct {
	// Store holds the events.
	Store eventstore.Store
	// Pool is the PostgreSQL database that holds the number series (see
	// Migrate), whichever store holds the events.
	Pool *pgxpool.Pool
	// Clock is the service's notion of now (a test clock may move it).
	// Nil means time.Now.
	Clock func() time.Time
	// Location is the business time zone: shipping days, charge dates and
	// invoice years are counted in it. Nil means UTC.
	Location *time.Location
	// VATRates are the VAT rates by shipping country. Nil means
	// domain.DefaultVATRates.
	VATRates domain.VATRates
	// DataKeys destroys customers' data keys (eventstore/crypto.Store):
	// ErasePersonalData needs it and fails without it.
	DataKeys DataKeys
}

// Service runs the application's use cases: each method loads what it
// needs, decides with the domain, and appends with optimistic concurrency
// through eventstore.Execute (bounded retries on a conflict, none with an
// If-Match version). Methods are safe for concurrent use.
//
// Every method takes the request's eventstore.Metadata (actor, correlation
// id), which is stamped on every event it appends. md.OccurredAt, when set,
// is the time of the command (so a test clock reaches the domain); when zero
// it is Clock().
//
// Errors are *domain.Error for anything the caller can act on (invalid
// input naming the request field, a state conflict, an unknown id),
// eventstore.ErrVersionMismatch for a stale If-Match, and anything else is
// internal.
type Service struct {
	store    eventstore.Store
	numbers  *Numbers
	clock    func() time.Time
	location *time.Location
	rates    domain.VATRates
	dataKeys DataKeys
}

// New returns a Service over d. It panics when d.Store or d.Pool is nil,
// which is a wiring mistake.
func New(d Deps) *Service {
	if d.Store == nil || d.Pool == nil {
		panic("command.New: Deps.Store and Deps.Pool are required")
	}
	s := &Service{store: d.Store, clock: d.Clock, location: d.Location, rates: d.VATRates, dataKeys: d.DataKeys}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.location == nil {
		s.location = time.UTC
	}
	if s.rates == nil {
		s.rates = domain.DefaultVATRates()
	}
	s.numbers = NewNumbers(d.Pool, s.location)
	return s
}

// Numbers returns the service's allocator of order and invoice numbers.
func (s *Service) Numbers() *Numbers { return s.numbers }

// Location returns the business time zone.
func (s *Service) Location() *time.Location { return s.location }

// begin fixes the time of a command: md.OccurredAt, or now.
func (s *Service) begin(md eventstore.Metadata) (eventstore.Metadata, time.Time) {
	if md.OccurredAt.IsZero() {
		md.OccurredAt = s.clock()
	}
	md.OccurredAt = md.OccurredAt.UTC()
	return md, md.OccurredAt
}

func (s *Service) today(now time.Time) domain.Date { return domain.DateIn(now, s.location) }

// Written is where a use case left one aggregate: its stream version and
// the position of the last event the use case appended to it, or, when the
// use case appended nothing there (an idempotent repeat), the position of
// the stream's latest event, so that a reader waiting for it sees the
// aggregate as it is.
type Written struct {
	Version  uint64
	Position eventstore.Position
}

// later returns the later of two positions.
func later(a, b eventstore.Position) eventstore.Position {
	if a.Less(b) {
		return b
	}
	return a
}

// options returns the Execute options of one append.
func options(md eventstore.Metadata, ifMatch *uint64) eventstore.ExecuteOptions {
	return eventstore.ExecuteOptions{Metadata: md, IfMatch: ifMatch}
}

// execute runs cmds against one aggregate as one decision: each command is
// decided against the state the previous ones left, and all their events
// are appended together (or none). It is eventstore.Execute over a
// composite command, so retries and If-Match behave the same.
func execute[S any, C any, E domain.Event](ctx context.Context, s *Service, a domain.Aggregate[S, C, E], stream string, opts eventstore.ExecuteOptions, cmds ...C) (eventstore.ExecuteResult[S, E], Written, error) {
	multi := domain.Aggregate[S, []C, E]{
		Codec:  a.Codec,
		Evolve: a.Evolve,
		Decide: func(st S, cs []C) ([]E, error) {
			var out []E
			for _, c := range cs {
				es, err := a.Decide(st, c)
				if err != nil {
					return nil, err
				}
				for _, e := range es {
					st = a.Evolve(st, e)
				}
				out = append(out, es...)
			}
			return out, nil
		},
	}
	res, err := eventstore.Execute(ctx, s.store, multi, stream, cmds, opts)
	if err != nil {
		return res, Written{}, err
	}
	w := Written{Version: res.Version, Position: res.Position}
	if len(res.Events) == 0 && res.Version > 0 {
		if w.Position, err = s.streamPosition(ctx, stream, res.Version); err != nil {
			return res, Written{}, err
		}
	}
	return res, w, nil
}

// streamPosition returns the global position of stream's event at version.
func (s *Service) streamPosition(ctx context.Context, stream string, version uint64) (eventstore.Position, error) {
	events, err := s.store.ReadStream(ctx, stream, version, 1)
	if err != nil {
		return eventstore.Position{}, fmt.Errorf("reading the position of %s at version %d: %w", stream, version, err)
	}
	if len(events) == 0 {
		return eventstore.Position{}, fmt.Errorf("reading the position of %s: version %d is missing", stream, version)
	}
	return events[0].Position, nil
}
