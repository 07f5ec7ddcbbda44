// Package crypto makes personal data in the event log erasable: Store
// decorates an eventstore.Store, encrypting the personal fields of event
// data on the way in and decrypting them on every way out (ReadStream,
// ReadAll, Subscribe), with a data key per customer (crypto-shredding).
// Erasing a customer destroys their key (EraseCustomerKey): the events stay,
// byte for byte, and their personal fields read as null from then on, in
// the history, in as-of pages and in every read model.
//
// # What is encrypted
//
// The values at the JSON paths personalFields lists for the event's type
// (names, email, phone, street, zipcode and city of addresses, free-text
// reasons, email recipients and the names and links emails carry). Each
// value is replaced by a JSON string "enc:v1:<customer>:<base64>" (see
// envelope.go): AES-256-GCM, a random nonce per value, the value bound to
// its customer, event and path. Nothing else changes: ids, amounts, dates,
// types and metadata stay readable, so the log can still be audited and
// its hash chain (which covers the stored, encrypted bytes) verified after
// an erasure.
//
// # Whose key
//
// The customer named by the event's top-level customer_id, else by its
// stream ("customer-<id>"), else the customer recorded for its stream
// (email.failed names only its email). The decorator records every
// (customer, stream) it appends to in customer_data_streams before the
// first append, which is also how CustomerEvents finds a customer's whole
// history. Data keys are random (a key derived from a master secret could
// not be destroyed), created on a customer's first encrypted value, and
// stored wrapped by the master key (DATA_KEY) in customer_data_keys, which
// lives in PostgreSQL whichever store holds the events.
//
// # Erasure
//
// EraseCustomerKey deletes the wrapped key (or records a customer with
// none as erased). From then on a value of that customer decrypts to null,
// and a new personal value appended for them is stored as null: data of an
// erased customer is never written again. Call it before appending
// customer.personal_data_erased (command.ErasePersonalData does): whoever
// reacts to that event, possibly in another process, then reads the
// customer's history as erased. Store evicts the key from its cache when it
// reads that event, so a reader that follows the log never decrypts with a
// key cached from before; other readers trust a cached key for at most
// WithKeyTTL.
//
// A value that fails authentication, a malformed envelope and a key
// wrapped by another master key are errors, never "erased": corruption and
// misconfiguration must not pass for an erasure.
//
// What crypto-shredding does not reach: copies of the wrapped key in WAL
// archives, backups and replicas, which with the master key would unlock
// the data again until they expire; keep backups for less time than the
// erasure deadline, or treat them as personal data. The read models and
// other tables hold plaintext of their own; see command.ErasePersonalData
// for what erasure does about them.
package crypto

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/subsd/subsd/eventstore"
)

// Store encrypts personal fields on the way into the event store it wraps
// and decrypts them on the way out. It is safe for concurrent use.
type Store struct {
	inner  eventstore.Store
	keys   *keyring
	fields map[string]*node
	// owner finds a top-level customer_id.
	owner *node
}

var (
	_ eventstore.Store          = (*Store)(nil)
	_ eventstore.FilteredReader = (*Store)(nil)
)

type options struct {
	keyTTL    time.Duration
	cacheSize int
	now       func() time.Time
}

// Option configures a Store.
type Option func(*options)

// WithKeyTTL sets how long a data key read from the database is used to
// decrypt before it is read again (default 5s): how long this process may
// still decrypt a customer's data after another process erased it, unless
// it reads the erasure event first. Keys are used to encrypt however old.
func WithKeyTTL(d time.Duration) Option { return func(o *options) { o.keyTTL = d } }

// WithCacheSize bounds the number of unwrapped data keys kept in memory
// (default 10,000; about 1 KB each).
func WithCacheSize(n int) Option { return func(o *options) { o.cacheSize = n } }

// New returns a Store over inner, keeping data keys in pool (see Migrate)
// wrapped by masterKey (MasterKeySize bytes: DATA_KEY). It does not touch
// the database; CheckMasterKey verifies that masterKey is the one the
// existing keys were wrapped with.
func New(inner eventstore.Store, pool *pgxpool.Pool, masterKey []byte, opts ...Option) (*Store, error) {
	o := options{keyTTL: 5 * time.Second, cacheSize: 10_000, now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.keyTTL < 0 {
		o.keyTTL = 0
	}
	if o.cacheSize < 1 {
		o.cacheSize = 1
	}
	keys, err := newKeyring(pool, masterKey, o)
	if err != nil {
		return nil, err
	}
	return &Store{inner: inner, keys: keys, fields: tries(personalFields), owner: trie([]string{"customer_id"})}, nil
}

// Inner returns the store Store wraps: the stored bytes, ciphertext and
// all (for tamper-evidence checks, which hash what is stored).
func (s *Store) Inner() eventstore.Store { return s.inner }

// CheckMasterKey returns an error wrapping ErrWrongMasterKey when data keys
// in the database were wrapped by another master key than the Store's.
// Run it at start, after Migrate: with the wrong DATA_KEY every read of
// personal data fails, and a consumer would give up on its events.
func (s *Store) CheckMasterKey(ctx context.Context) error { return s.keys.checkMaster(ctx) }

// CheckMasterKey is Store.CheckMasterKey for masterKey, without a Store.
func CheckMasterKey(ctx context.Context, pool *pgxpool.Pool, masterKey []byte) error {
	k, err := newKeyring(pool, masterKey, options{keyTTL: time.Second, cacheSize: 1, now: time.Now})
	if err != nil {
		return err
	}
	return k.checkMaster(ctx)
}

// Ping checks the wrapped store (when it has a Ping) and that the data keys'
// tables are at the version this build expects.
func (s *Store) Ping(ctx context.Context) error {
	if p, ok := s.inner.(interface{ Ping(context.Context) error }); ok {
		if err := p.Ping(ctx); err != nil {
			return err
		}
	}
	var version int32
	if err := s.keys.pool.QueryRow(ctx, schemaVersion).Scan(&version); err != nil {
		return fmt.Errorf("checking the data keys' schema: %w", err)
	}
	if version < latestVersion {
		return fmt.Errorf("the data keys' schema is at version %d, this build needs %d: run the migrations", version, latestVersion)
	}
	return nil
}

// EraseCustomerKey destroys the data key of customerID, for good: every
// personal value of theirs reads as null from now on, in this process at
// once, and in others once their cached key expires or they read the
// customer.personal_data_erased event. It is idempotent, and records a
// customer who has no key yet as erased, so none is ever created for them.
// It returns when the key was erased (the first time).
func (s *Store) EraseCustomerKey(ctx context.Context, customerID string) (time.Time, error) {
	if !validOwner(customerID) {
		return time.Time{}, fmt.Errorf("erasing the data key of %q: not a customer id", customerID)
	}
	return s.keys.erase(ctx, customerID)
}

// CustomerStreams returns the streams that hold events of customerID, as
// recorded by Append (sorted by name).
func (s *Store) CustomerStreams(ctx context.Context, customerID string) ([]string, error) {
	streams, err := s.keys.q.CustomerStreams(ctx, customerID)
	if err != nil {
		return nil, fmt.Errorf("listing the streams of customer %s: %w", customerID, err)
	}
	return streams, nil
}

// customerEventsPage is how many events CustomerEvents reads per query.
const customerEventsPage = 1000

// CustomerEvents returns every event of customerID's streams, decrypted,
// merged in global order (by Position). Events appended before this
// decorator recorded their stream are not found.
//
// Called with the context Subscribe handed an erasure event of customerID
// to, it returns the history Subscribe read before it handed the event on
// (see Subscribe), without a database connection.
func (s *Store) CustomerEvents(ctx context.Context, customerID string) ([]eventstore.RecordedEvent, error) {
	if p, ok := ctx.Value(prefetchKey{}).(*prefetched); ok && p.store == s && p.customer == customerID {
		return slices.Clone(p.events), nil
	}
	return s.readCustomerEvents(ctx, customerID)
}

func (s *Store) readCustomerEvents(ctx context.Context, customerID string) ([]eventstore.RecordedEvent, error) {
	streams, err := s.CustomerStreams(ctx, customerID)
	if err != nil {
		return nil, err
	}
	var all []eventstore.RecordedEvent
	for _, stream := range streams {
		for from := uint64(1); ; {
			page, err := s.ReadStream(ctx, stream, from, customerEventsPage)
			if err != nil {
				return nil, err
			}
			all = append(all, page...)
			if len(page) < customerEventsPage {
				break
			}
			from = page[len(page)-1].Version + 1
		}
	}
	sortByPosition(all)
	return all, nil
}

// Append encrypts the personal fields of events with their customer's data
// key (creating it on the customer's first personal value) and appends
// them to the wrapped store. Before the first append of a customer's event
// to stream it records (customer, stream). A personal value of an erased
// customer is stored as null. An event with personal values but no
// customer to key them to is refused with eventstore.ErrInvalidAppend.
// Data that is not valid JSON is passed on untouched, for the wrapped store
// to refuse.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	out, err := s.encrypt(ctx, stream, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return s.inner.Append(ctx, stream, expected, out...)
}

// encrypt returns events as Append stores them (events itself when nothing
// in them is personal), having recorded their customer's streams and made
// the keys it needs.
func (s *Store) encrypt(ctx context.Context, stream string, events []eventstore.EventData) ([]eventstore.EventData, error) {
	type plan struct {
		customer string
		values   []span
	}
	plans := make([]plan, len(events))
	var (
		customers []string
		pairs     []pair
	)
	for i, ev := range events {
		n := s.fields[ev.Type]
		if !json.Valid(ev.Data) {
			continue
		}
		var values []span
		if n != nil {
			all, err := personalValues(ev.Data, n)
			if err != nil {
				return nil, fmt.Errorf("appending to stream %q: event %d (%s): %v: %w", stream, i, ev.Type, err, eventstore.ErrInvalidAppend)
			}
			for _, v := range all {
				if string(ev.Data[v.start:v.end]) != `""` { // an empty string hides nothing
					values = append(values, v)
				}
			}
		}
		customer := s.customerOf(ev.Data, stream)
		if customer == "" && len(values) > 0 {
			c, err := s.keys.streamCustomer(ctx, stream)
			if err != nil {
				return nil, fmt.Errorf("appending to stream %q: %w", stream, err)
			}
			customer = c
		}
		if customer == "" {
			if len(values) > 0 {
				return nil, fmt.Errorf("appending to stream %q: event %d (%s) holds personal data (%s) but names no customer whose key could encrypt it: %w",
					stream, i, ev.Type, values[0].path, eventstore.ErrInvalidAppend)
			}
			continue
		}
		plans[i] = plan{customer: customer, values: values}
		pairs = append(pairs, pair{customer: customer, stream: stream})
		if len(values) > 0 {
			customers = append(customers, customer)
		}
	}
	if len(pairs) == 0 {
		return events, nil
	}
	keys, err := s.keys.forEncrypt(ctx, customers, pairs)
	if err != nil {
		return nil, fmt.Errorf("appending to stream %q: %w", stream, err)
	}
	// The caller's events are not changed: a retry after a conflict
	// appends them again, encrypted afresh.
	out := events
	copied := false
	for i, p := range plans {
		if len(p.values) == 0 {
			continue
		}
		if !copied {
			out = slices.Clone(events)
			copied = true
		}
		dk := keys[p.customer]
		replacements := make([][]byte, len(p.values))
		for j, v := range p.values {
			if dk.erased() {
				replacements[j] = erasedValue
			} else {
				replacements[j] = seal(dk.aead, p.customer, events[i].ID, v.path, events[i].Data[v.start:v.end])
			}
		}
		out[i].Data = splice(events[i].Data, p.values, replacements)
	}
	return out, nil
}

// customerOf returns the customer an event names: its data's top-level
// customer_id, else its stream's name; "" when neither is a valid id.
func (s *Store) customerOf(data []byte, stream string) string {
	if spans, err := personalValues(data, s.owner); err == nil && len(spans) > 0 {
		var id string
		last := spans[len(spans)-1]
		if json.Unmarshal(data[last.start:last.end], &id) == nil && validOwner(id) {
			return id
		}
	}
	if id, ok := strings.CutPrefix(stream, customerStreamPrefix); ok && validOwner(id) {
		return id
	}
	return ""
}

// ReadStream reads from the wrapped store and decrypts, as
// eventstore.Store describes.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]eventstore.RecordedEvent, error) {
	events, err := s.inner.ReadStream(ctx, stream, from, limit)
	if err != nil {
		return nil, err
	}
	if err := s.decrypt(ctx, events); err != nil {
		return nil, fmt.Errorf("reading stream %q: %w", stream, err)
	}
	return events, nil
}

// ReadAll reads from the wrapped store and decrypts, as eventstore.Store
// describes.
func (s *Store) ReadAll(ctx context.Context, after eventstore.Position, limit int) ([]eventstore.RecordedEvent, error) {
	events, err := s.inner.ReadAll(ctx, after, limit)
	if err != nil {
		return nil, err
	}
	if err := s.decrypt(ctx, events); err != nil {
		return nil, fmt.Errorf("reading all events after %s: %w", after, err)
	}
	return events, nil
}

// ReadFiltered implements eventstore.FilteredReader: the wrapped store's
// filtered read (its own when it has one), decrypted.
func (s *Store) ReadFiltered(ctx context.Context, after eventstore.Position, limit int, f eventstore.Filter) ([]eventstore.RecordedEvent, error) {
	events, err := eventstore.ReadFiltered(ctx, s.inner, after, limit, f)
	if err != nil {
		return nil, err
	}
	if err := s.decrypt(ctx, events); err != nil {
		return nil, fmt.Errorf("reading filtered events after %s: %w", after, err)
	}
	return events, nil
}

// Subscribe subscribes to the wrapped store and hands handle every event
// decrypted. A failure to decrypt (the key table unreachable) stops the
// subscription with that error, as a handler's error does.
//
// An erasure event (ErasedEventType) is handed on with a context that
// carries the erased customer's history, read (as erased) before handle
// runs: CustomerEvents called with that context returns it. A consumer
// reacts to an erasure by reading the customer's history inside the
// transaction of its checkpoint (projections/erasure.go); every read model
// does so at the same event, and a second connection for each, taken while
// each holds one, could exhaust the pool and leave them all waiting.
func (s *Store) Subscribe(ctx context.Context, after eventstore.Position, handle eventstore.HandlerFunc) error {
	return s.inner.Subscribe(ctx, after, func(ctx context.Context, e eventstore.RecordedEvent) error {
		one := []eventstore.RecordedEvent{e}
		if err := s.decrypt(ctx, one); err != nil {
			return fmt.Errorf("decrypting %s %s@%d: %w", e.Type, e.StreamID, e.Version, err)
		}
		if e.Type == ErasedEventType {
			if c := s.customerOf(e.Data, e.StreamID); c != "" {
				history, err := s.readCustomerEvents(ctx, c)
				if err != nil {
					return fmt.Errorf("reading the history of erased customer %s: %w", c, err)
				}
				ctx = context.WithValue(ctx, prefetchKey{}, &prefetched{store: s, customer: c, events: history})
			}
		}
		return handle(ctx, one[0])
	})
}

// prefetchKey is the context key of a prefetched history (Subscribe).
type prefetchKey struct{}

// prefetched is an erased customer's history, read by Subscribe.
type prefetched struct {
	store    *Store
	customer string
	events   []eventstore.RecordedEvent
}

// decrypt replaces, in place, every encrypted value at a personal path of
// events by its plaintext, or by null when its key is erased. It first
// evicts the key of every customer erased by one of events, so that
// neither those nor later events of theirs decrypt with a key cached
// before the erasure.
func (s *Store) decrypt(ctx context.Context, events []eventstore.RecordedEvent) error {
	type found struct {
		event  int
		values []span
		owners []string
		sealed [][]byte
	}
	var (
		todo   []found
		owners []string
	)
	for i := range events {
		e := &events[i]
		if e.Type == ErasedEventType {
			if c := s.customerOf(e.Data, e.StreamID); c != "" {
				s.keys.evict(c)
			}
		}
		n := s.fields[e.Type]
		if n == nil {
			continue
		}
		all, err := personalValues(e.Data, n)
		if err != nil {
			return fmt.Errorf("event %s (%s %s@%d): %w", e.ID, e.Type, e.StreamID, e.Version, err)
		}
		f := found{event: i}
		for _, v := range all {
			raw := e.Data[v.start:v.end]
			if !isEnvelope(raw) {
				continue // stored before encryption, or empty
			}
			owner, sealed, err := parseEnvelope(raw)
			if err != nil {
				return fmt.Errorf("event %s (%s %s@%d) at %s: %w", e.ID, e.Type, e.StreamID, e.Version, v.path, err)
			}
			f.values = append(f.values, v)
			f.owners = append(f.owners, owner)
			f.sealed = append(f.sealed, sealed)
			owners = append(owners, owner)
		}
		if len(f.values) > 0 {
			todo = append(todo, f)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	keys, err := s.keys.forDecrypt(ctx, owners)
	if err != nil {
		return err
	}
	for _, f := range todo {
		e := &events[f.event]
		replacements := make([][]byte, len(f.values))
		for j, v := range f.values {
			dk := keys[f.owners[j]]
			if dk.erased() {
				replacements[j] = erasedValue
				continue
			}
			raw, err := open(dk.aead, f.owners[j], e.ID, v.path, f.sealed[j])
			if err != nil {
				return fmt.Errorf("event %s (%s %s@%d): %w", e.ID, e.Type, e.StreamID, e.Version, err)
			}
			replacements[j] = raw
		}
		e.Data = splice(e.Data, f.values, replacements)
	}
	return nil
}

// sortByPosition orders events by their global position.
func sortByPosition(events []eventstore.RecordedEvent) {
	slices.SortStableFunc(events, func(a, b eventstore.RecordedEvent) int {
		switch {
		case a.Position.Less(b.Position):
			return -1
		case b.Position.Less(a.Position):
			return 1
		}
		return 0
	})
}
