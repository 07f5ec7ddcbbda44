package projections

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/email"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/order"
	"github.com/subsd/subsd/domain/settings"
	"github.com/subsd/subsd/domain/subscription"
	"github.com/subsd/subsd/eventstore"
)

// Projection builds one read model from the event log. The same Apply runs
// in every mode (see Session): live, one event per transaction of the
// eventrouter; rebuild, over the whole log in memory; and as of a time, over
// one customer's history in memory. So Apply must do everything through the
// Session it is given and be deterministic: the same events give the same
// states and documents, byte for byte, whatever the mode.
type Projection interface {
	// Name is the projection's stable identity: its consumer (checkpoint)
	// name on the eventrouter, its schema (rm_<name>) and its name in the
	// API (GET /v1/projections). Renaming one starts it from scratch.
	Name() string
	// Version is the shape of the read model. Bump it whenever Apply or
	// Render would produce other rows from the same events: on start,
	// Ensure rebuilds a projection whose stored version differs.
	Version() int
	// Handles reports whether Apply needs events of the stored type name
	// typ. Other events only move the projection's checkpoint, and a
	// rebuild does not even decode them.
	Handles(typ string) bool
	// Apply applies one event through s.
	Apply(ctx context.Context, s *Session, e Event) error
	// Render returns the document of state, which Apply stored under
	// (kind, id), or ok false when that state has no document (an index
	// entry, or an entity that does not exist yet). It must depend on state
	// alone.
	Render(kind, id string, state any) (doc Document, ok bool, err error)
	// Indexes returns the statements that create the projection's
	// secondary indexes on its documents table, with %[1]s standing for the
	// schema (already quoted). They run after a rebuild's bulk load.
	Indexes() []string
}

// Event is what a projection applies: an event of the log and its decoded
// domain event.
type Event struct {
	eventstore.RecordedEvent
	// Data is the domain event (a customer.Event, subscription.Event, ...).
	Data domain.Event
}

// Document is a rendered page and the columns it is found by.
type Document struct {
	// JSON is the page as the API serves it, holes aside (see patch.go).
	JSON []byte
	// Holes lists the values the Reader fills in at read time.
	Holes []int64
	// Version is the version of the aggregate the page shows (its stream
	// version), or 0.
	Version uint64
	// Parent is the id the document is listed under (an email's customer).
	Parent string
	// SortAt orders lists (newest first); zero is NULL.
	SortAt time.Time
	// Search is the lower-case text a list's ?query= matches.
	Search string
	// Statuses are what a list's ?status= matches.
	Statuses []string
}

// All returns every projection of the service, one per dashboard page, in
// a fixed order.
func All() []Projection {
	return []Projection{
		customersOverview{},
		customerDetail{},
		orderPage{},
		subscriptionPage{},
		invoicePage{},
		emailHistory{},
		customerStreams{},
	}
}

// Names returns the names of All.
func Names() []string {
	ps := All()
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = p.Name()
	}
	return names
}

// ErrUnknownProjection is returned for a name no projection has.
var ErrUnknownProjection = errors.New("projections: unknown projection")

// ByName returns the projection named name.
func ByName(name string) (Projection, error) {
	for _, p := range All() {
		if p.Name() == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownProjection, name)
}

// decode decodes a recorded event with its aggregate's codec, found by the
// stream's prefix, so that projections see current event shapes (upcasters
// run here). An event of a stream no aggregate owns decodes to nil: the log
// may hold streams that are not ours to project.
func decode(e eventstore.RecordedEvent) (domain.Event, error) {
	var (
		ev  domain.Event
		err error
	)
	switch s := e.StreamID; {
	case strings.HasPrefix(s, customer.StreamPrefix):
		ev, err = customer.Codec.Decode(e.Type, e.Data)
	case strings.HasPrefix(s, subscription.StreamPrefix):
		ev, err = subscription.Codec.Decode(e.Type, e.Data)
	case strings.HasPrefix(s, order.StreamPrefix):
		ev, err = order.Codec.Decode(e.Type, e.Data)
	case strings.HasPrefix(s, invoice.StreamPrefix):
		ev, err = invoice.Codec.Decode(e.Type, e.Data)
	case strings.HasPrefix(s, email.StreamPrefix):
		ev, err = email.Codec.Decode(e.Type, e.Data)
	case strings.HasPrefix(s, settings.StreamPrefix):
		ev, err = settings.Codec.Decode(e.Type, e.Data)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("decoding %s %s@%d: %w", e.Type, e.StreamID, e.Version, err)
	}
	return ev, nil
}

// typeSet is a Handles implementation: the stored type names listed.
type typeSet map[string]bool

func types(names ...string) typeSet {
	s := make(typeSet, len(names))
	for _, n := range names {
		s[n] = true
	}
	return s
}

// typesOf returns the stored type names of events.
func typesOf(events ...domain.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.EventType()
	}
	return out
}
