package projections

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/email"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/order"
	"github.com/subsd/subsd/domain/settings"
	"github.com/subsd/subsd/domain/subscription"
	"github.com/subsd/subsd/eventstore"
)

// customerStreams is the index behind the auditors' customer history and
// ?as_of= pages (issue 6): which streams belong to which customer. It is a
// document per stream, listed under its customer (parent):
//
//	{"stream", "customer_id"}
//
// A stream is indexed by the event that starts it, each of which names the
// customer: customer.registered, subscription.created, order.created,
// invoice.created and email.planned. No page shows these documents; the
// Reader lists a customer's streams from them (CustomerStreams), and the
// event store is then read by those stream names, through its stream index,
// so a customer's history costs reads of the customer's own events only,
// however long the log.
type customerStreams struct{}

// streamOwner is the state of one stream: its customer.
type streamOwner struct {
	CustomerID string `json:"customer_id"`
}

// kindStream is customer_streams' one state kind.
const kindStream = "stream"

var customerStreamsTypes = types(typesOf(
	customer.Registered{}, subscription.Created{}, order.Created{}, invoice.Created{}, email.Planned{},
)...)

func (customerStreams) Name() string            { return "customer_streams" }
func (customerStreams) Version() int            { return 1 }
func (customerStreams) Handles(typ string) bool { return customerStreamsTypes[typ] }

func (customerStreams) Indexes() []string {
	return []string{`CREATE INDEX documents_parent_idx ON %[1]s.documents (parent)`}
}

func (customerStreams) Apply(_ context.Context, s *Session, e Event) error {
	var id domain.CustomerID
	switch ev := e.Data.(type) {
	case customer.Registered:
		id = ev.CustomerID
	case email.Planned:
		id = ev.CustomerID
	default:
		var ok bool
		if id, ok = customerOfBusinessEvent(ev); !ok {
			return fmt.Errorf("customer_streams: no customer for %T", e.Data)
		}
	}
	if id == "" {
		return nil
	}
	Put(s, kindStream, e.StreamID, &streamOwner{CustomerID: string(id)})
	return nil
}

func (customerStreams) Render(kind, id string, state any) (Document, bool, error) {
	st, ok := state.(*streamOwner)
	if !ok || kind != kindStream {
		return Document{}, false, fmt.Errorf("customer_streams: unexpected state %s %T", kind, state)
	}
	w := &jsonWriter{b: make([]byte, 0, 80)}
	w.obj()
	w.key("stream")
	w.str(id)
	w.key("customer_id")
	w.str(st.CustomerID)
	w.end()
	return Document{JSON: w.bytes(), Parent: st.CustomerID}, true, nil
}

// customerStreamsSQL lists a customer's streams, by the index on parent.
var customerStreamsSQL = `SELECT id FROM ` + quote(schemaName("customer_streams")) + `.documents WHERE parent = $1 ORDER BY id`

// CustomerStreams returns the names of every stream of the customer (the
// customer's own, and those of its subscriptions, orders, invoices and
// emails) as far as the customer_streams read model has caught up, sorted.
// An unknown customer is ErrNotFound.
func (r *Reader) CustomerStreams(ctx context.Context, customerID string) ([]string, error) {
	if _, err := domain.ParseCustomerID(customerID); err != nil {
		return nil, fmt.Errorf("customer %q: %w", customerID, ErrNotFound)
	}
	rows, err := r.pool.Query(ctx, customerStreamsSQL, customerID)
	if err != nil {
		return nil, fmt.Errorf("listing the streams of customer %s: %w", customerID, err)
	}
	streams, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("listing the streams of customer %s: %w", customerID, err)
	}
	if len(streams) == 0 {
		return nil, fmt.Errorf("customer %s: %w", customerID, ErrNotFound)
	}
	return streams, nil
}

// CustomerHistory returns at most limit events of the customer's streams
// (CustomerStreams) after position after, in global order, read from store,
// and whether more follow. An unknown customer is ErrNotFound.
func (r *Reader) CustomerHistory(ctx context.Context, store eventstore.Store, customerID string, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, bool, error) {
	streams, err := r.CustomerStreams(ctx, customerID)
	if err != nil {
		return nil, false, err
	}
	events, err := eventstore.ReadFiltered(ctx, store, after, limit+1, eventstore.Filter{Streams: streams})
	if err != nil {
		return nil, false, fmt.Errorf("reading the history of customer %s: %w", customerID, err)
	}
	if len(events) > limit {
		return events[:limit], true, nil
	}
	return events, false, nil
}

// asOfPage is how many events CustomerAsOf reads per call of the store.
const asOfPage = 2000

// CustomerAsOf returns the customer detail page of customerID as it stood
// at time at: FoldCustomer over the events of the customer's streams and
// the settings stream that had happened by then, read from store (never
// from the read model's documents). An event happened by at when its
// business time (Metadata.OccurredAt, which the test clock moves; the
// store's RecordedAt for an event without one) is not after at. The page's
// subscribed_days count to at.
//
// A customer unknown to the customer_streams read model, or registered
// after at, is ErrNotFound.
func (r *Reader) CustomerAsOf(ctx context.Context, store eventstore.Store, customerID string, at time.Time) (Doc, error) {
	streams, err := r.CustomerStreams(ctx, customerID)
	if err != nil {
		return Doc{}, err
	}
	f := eventstore.Filter{Streams: append(streams, settings.StreamName)}
	var events []eventstore.RecordedEvent
	for after := eventstore.Start; ; {
		page, err := eventstore.ReadFiltered(ctx, store, after, asOfPage, f)
		if err != nil {
			return Doc{}, fmt.Errorf("reading the history of customer %s: %w", customerID, err)
		}
		for _, e := range page {
			if !happenedAt(e).After(at) {
				events = append(events, e)
			}
		}
		if len(page) < asOfPage {
			break
		}
		after = page[len(page)-1].Position
	}
	doc, err := FoldCustomer(ctx, customerID, events, at, r.loc)
	if err != nil {
		return Doc{}, fmt.Errorf("customer %s as of %s: %w", customerID, at.Format(time.RFC3339Nano), err)
	}
	return doc, nil
}

// happenedAt is when an event happened, for ?as_of=.
func happenedAt(e eventstore.RecordedEvent) time.Time {
	if !e.Metadata.OccurredAt.IsZero() {
		return e.Metadata.OccurredAt
	}
	return e.RecordedAt
}

// CurrentData returns an event's data in its current shape: decoded by its
// aggregate's codec, which runs the upcasters of old shapes, and encoded
// again. The customer history shows events this way, as the projections
// and as_of see them. An event of a stream no aggregate owns, or of a type
// its codec does not know, is returned as stored.
func CurrentData(e eventstore.RecordedEvent) ([]byte, error) {
	ev, err := decode(e)
	if errors.Is(err, domain.ErrUnknownEventType) || (err == nil && ev == nil) {
		return e.Data, nil
	}
	if err != nil {
		return nil, err
	}
	data, err := json.Marshal(ev)
	if err != nil {
		return nil, fmt.Errorf("encoding %s %s@%d: %w", e.Type, e.StreamID, e.Version, err)
	}
	return data, nil
}

// decodeAll decodes the events that handles selects (nil for the others,
// and for events of streams no aggregate owns), in parallel on up to
// GOMAXPROCS goroutines: decoding the JSON is most of the CPU time of a
// fold (FoldCustomer, for ?as_of=), and each event decodes on its own. The
// error is the one of the first event, in order, that fails.
func decodeAll(events []eventstore.RecordedEvent, handles func(string) bool) ([]domain.Event, error) {
	out := make([]domain.Event, len(events))
	errs := make([]error, len(events))
	work := func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if handles(events[i].Type) {
				out[i], errs[i] = decode(events[i])
			}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(events)/decodeChunk+1)
	if workers <= 1 {
		work(0, len(events))
	} else {
		var wg sync.WaitGroup
		per := (len(events) + workers - 1) / workers
		for lo := 0; lo < len(events); lo += per {
			wg.Go(func() { work(lo, min(lo+per, len(events))) })
		}
		wg.Wait()
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// decodeChunk is the least number of events worth a goroutine of decodeAll.
const decodeChunk = 128
