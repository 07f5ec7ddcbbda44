package crypto_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/email"
	"github.com/subsd/subsd/domain/order"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/crypto"
	"github.com/subsd/subsd/eventstore/eventstoretest"
	"github.com/subsd/subsd/eventstore/postgres"
	"github.com/subsd/subsd/eventstore/postgres/pgtest"
)

// testBundle is a decorated PostgreSQL store on a database of its own.
type testBundle struct {
	pool  *pgxpool.Pool
	inner *postgres.Store
	store *crypto.Store
	key   []byte
}

func newKey() []byte {
	k := make([]byte, crypto.MasterKeySize)
	for i := range k {
		k[i] = byte(i*7 + 1)
	}
	return k
}

func setup(t testing.TB, opts ...crypto.Option) *testBundle {
	t.Helper()
	pool := pgtest.NewPool(t)
	require.NoError(t, postgres.Migrate(t.Context(), pool))
	require.NoError(t, crypto.Migrate(t.Context(), pool))
	inner := postgres.New(pool)
	key := newKey()
	store, err := crypto.New(inner, pool, key, opts...)
	require.NoError(t, err)
	return &testBundle{pool: pool, inner: inner, store: store, key: key}
}

// other returns a second Store over the same database: another process.
func (b *testBundle) other(t *testing.T, opts ...crypto.Option) *crypto.Store {
	t.Helper()
	s, err := crypto.New(b.inner, b.pool, b.key, opts...)
	require.NoError(t, err)
	return s
}

// Ann's details are distinctive, so that a search for them finds only them.
const (
	annFirst  = "Annabel"
	annLast   = "Zwartekop-Quist"
	annEmail  = "annabel.quist@example.org"
	annStreet = "Prinsengracht 263"
	annZip    = "1016 GV"
	annCity   = "Amsterdam"
)

func registered(id domain.CustomerID) customer.Registered {
	return customer.Registered{
		CustomerID: id, FirstName: annFirst, LastName: annLast, Email: annEmail, Phone: "+31612345678",
		Address:      domain.Address{Street: annStreet, Zipcode: annZip, City: annCity, Country: "NL"},
		RegisteredAt: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC),
	}
}

func encode[E domain.Event](t testing.TB, c *domain.Codec[E], e E) eventstore.EventData {
	t.Helper()
	typ, data, err := c.Encode(e)
	require.NoError(t, err)
	return eventstore.EventData{ID: uuid.New(), Type: typ, Data: data, Metadata: eventstore.Metadata{Actor: "admin:test"}}
}

func newCustomerID() domain.CustomerID {
	return domain.CustomerID("cus_" + uuid.NewString()[:13])
}

// storedData returns the bytes the PostgreSQL store holds for stream.
func storedData(t *testing.T, pool *pgxpool.Pool, stream string) [][]byte {
	t.Helper()
	rows, err := pool.Query(t.Context(), `SELECT data FROM eventstore_events WHERE stream_id = $1 ORDER BY version`, stream)
	require.NoError(t, err)
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var d []byte
		require.NoError(t, rows.Scan(&d))
		out = append(out, d)
	}
	require.NoError(t, rows.Err())
	return out
}

// readAll reads the whole log, waiting until it holds n events: ReadAll
// holds back events while any older transaction on the server runs (other
// tests' included).
func readAll(t *testing.T, s eventstore.Store, n int) []eventstore.RecordedEvent {
	t.Helper()
	var events []eventstore.RecordedEvent
	require.Eventually(t, func() bool {
		var err error
		events, err = s.ReadAll(t.Context(), eventstore.Start, 100)
		require.NoError(t, err)
		return len(events) >= n
	}, 20*time.Second, 10*time.Millisecond)
	require.Len(t, events, n)
	return events
}

// TestContract: the decorated store passes the event store contract (its
// events have no personal fields, so this proves the decorator is
// transparent to everything else: versions, idempotency, order,
// subscriptions, exact bytes).
func TestContract(t *testing.T) {
	t.Parallel()
	b := setup(t)
	eventstoretest.TestStore(t, func(*testing.T) eventstore.Store { return b.store })
}

// TestPersonalFieldsAreEncryptedAtRest: what the database holds has no
// personal value in plaintext, and what every read path returns is the
// appended data byte for byte.
func TestPersonalFieldsAreEncryptedAtRest(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	id := newCustomerID()
	stream := customer.Stream(id)

	// Given a registration with distinctive personal data,
	ev := encode(t, customer.Codec, customer.Event(registered(id)))
	original := bytes.Clone(ev.Data)
	// when it is appended through the decorator,
	res, err := b.store.Append(ctx, stream, eventstore.NoStream{}, ev)
	require.NoError(t, err)
	require.Equal(t, original, ev.Data, "the caller's event is not changed")

	// then the stored bytes hold none of it,
	stored := storedData(t, b.pool, stream)
	require.Len(t, stored, 1)
	for _, secret := range []string{annFirst, annLast, annEmail, annStreet, annZip, annCity, "+31612345678"} {
		require.NotContains(t, string(stored[0]), secret)
	}
	var doc map[string]any
	require.NoError(t, json.Unmarshal(stored[0], &doc))
	require.Equal(t, string(id), doc["customer_id"], "ids stay readable")
	require.Equal(t, "NL", doc["address"].(map[string]any)["country"], "the country stays readable")
	require.Contains(t, doc["email"], "enc:v1:"+string(id)+":")

	// and every read path gives back the original bytes.
	read, err := b.store.ReadStream(ctx, stream, 1, 10)
	require.NoError(t, err)
	require.Len(t, read, 1)
	require.Equal(t, string(original), string(read[0].Data))

	all := readAll(t, b.store, 1)
	require.Equal(t, string(original), string(all[0].Data))

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan eventstore.RecordedEvent, 1)
	go func() {
		_ = b.store.Subscribe(sctx, eventstore.Start, func(_ context.Context, e eventstore.RecordedEvent) error {
			got <- e
			return nil
		})
	}()
	select {
	case e := <-got:
		require.Equal(t, string(original), string(e.Data))
		require.Equal(t, res.Position, e.Position)
	case <-time.After(10 * time.Second):
		t.Fatal("the subscription delivered nothing")
	}

	// And the domain decodes it as it was.
	dec, err := customer.Codec.Decode(read[0].Type, read[0].Data)
	require.NoError(t, err)
	require.Equal(t, registered(id), dec)
}

// TestErasure: once the key is erased, every personal value of the
// customer reads as null, on every read path and in every process, and
// everything else reads as before.
func TestErasure(t *testing.T) {
	t.Parallel()
	b := setup(t, crypto.WithKeyTTL(time.Hour))
	ctx := t.Context()
	ann, bob := newCustomerID(), newCustomerID()
	for _, id := range []domain.CustomerID{ann, bob} {
		_, err := b.store.Append(ctx, customer.Stream(id), eventstore.NoStream{}, encode(t, customer.Codec, customer.Event(registered(id))))
		require.NoError(t, err)
	}
	// Another process has read Ann's data, so it holds her key.
	other := b.other(t, crypto.WithKeyTTL(time.Hour))
	before, err := other.ReadStream(ctx, customer.Stream(ann), 1, 10)
	require.NoError(t, err)
	require.Contains(t, string(before[0].Data), annEmail)

	// When Ann's key is erased,
	at, err := b.store.EraseCustomerKey(ctx, string(ann))
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), at, time.Minute)
	again, err := b.store.EraseCustomerKey(ctx, string(ann))
	require.NoError(t, err)
	require.Equal(t, at, again, "erasing twice keeps the first time")

	// then this process reads her personal values as null at once,
	read, err := b.store.ReadStream(ctx, customer.Stream(ann), 1, 10)
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(read[0].Data, &doc))
	for _, f := range []string{"first_name", "last_name", "email", "phone"} {
		require.Contains(t, doc, f)
		require.Nil(t, doc[f], f)
	}
	require.Equal(t, map[string]any{"street": nil, "zipcode": nil, "city": nil, "country": "NL"}, doc["address"])
	require.Equal(t, string(ann), doc["customer_id"])
	require.Equal(t, "2026-11-01T09:00:00Z", doc["registered_at"])
	dec, err := customer.Codec.Decode(read[0].Type, read[0].Data)
	require.NoError(t, err)
	require.Equal(t, customer.Registered{CustomerID: ann, Address: domain.Address{Country: "NL"}, RegisteredAt: registered(ann).RegisteredAt}, dec)

	// Bob is untouched.
	bobs, err := b.store.ReadStream(ctx, customer.Stream(bob), 1, 10)
	require.NoError(t, err)
	require.Contains(t, string(bobs[0].Data), annEmail)

	// The other process still trusts its cached key (for its TTL) until it
	// reads the erasure event, which comes first in the log's order for
	// whoever follows it.
	cached, err := other.ReadStream(ctx, customer.Stream(ann), 1, 10)
	require.NoError(t, err)
	require.Contains(t, string(cached[0].Data), annEmail, "a key cached in another process lives for its TTL")
	erased := encode(t, customer.Codec, customer.Event(customer.PersonalDataErased{CustomerID: ann, Actor: "admin:test", ErasedAt: at}))
	_, err = b.store.Append(ctx, customer.Stream(ann), eventstore.Exact(1), erased)
	require.NoError(t, err)
	for _, e := range readAll(t, other, 3) {
		if e.StreamID == customer.Stream(ann) {
			require.NotContains(t, string(e.Data), annEmail, "reading the erasure event evicts the key first (%s)", e.Type)
		}
	}
	after, err := other.ReadStream(ctx, customer.Stream(ann), 1, 10)
	require.NoError(t, err)
	require.NotContains(t, string(after[0].Data), annEmail)

	// The stored bytes did not change: erasure touches keys, not events.
	require.Len(t, storedData(t, b.pool, customer.Stream(ann)), 2)

	// A personal value appended for Ann after her erasure is stored as
	// null: nothing of hers is written again.
	changed := "Anna"
	late := encode(t, customer.Codec, customer.Event(customer.DetailsChanged{CustomerID: ann, FirstName: &changed, ChangedAt: at}))
	_, err = other.Append(ctx, customer.Stream(ann), eventstore.Exact(2), late)
	require.NoError(t, err)
	stored := storedData(t, b.pool, customer.Stream(ann))
	require.Contains(t, string(stored[2]), `"first_name":null`)
}

// TestKeyTTL: a key cached in another process expires; after that the
// erasure is seen there without reading the erasure event.
func TestKeyTTL(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	id := newCustomerID()
	_, err := b.store.Append(ctx, customer.Stream(id), eventstore.NoStream{}, encode(t, customer.Codec, customer.Event(registered(id))))
	require.NoError(t, err)
	other := b.other(t, crypto.WithKeyTTL(50*time.Millisecond))
	read, err := other.ReadStream(ctx, customer.Stream(id), 1, 1)
	require.NoError(t, err)
	require.Contains(t, string(read[0].Data), annEmail)

	_, err = b.store.EraseCustomerKey(ctx, string(id))
	require.NoError(t, err)
	time.Sleep(60 * time.Millisecond)
	read, err = other.ReadStream(ctx, customer.Stream(id), 1, 1)
	require.NoError(t, err)
	require.NotContains(t, string(read[0].Data), annEmail)
}

// TestEraseBeforeAnyData: a customer erased before any of their data was
// encrypted never gets a key: later personal values are stored as null.
func TestEraseBeforeAnyData(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	id := newCustomerID()
	_, err := b.store.EraseCustomerKey(ctx, string(id))
	require.NoError(t, err)
	_, err = b.other(t).Append(ctx, customer.Stream(id), eventstore.NoStream{}, encode(t, customer.Codec, customer.Event(registered(id))))
	require.NoError(t, err)
	stored := storedData(t, b.pool, customer.Stream(id))
	require.NotContains(t, string(stored[0]), annEmail)
	require.Contains(t, string(stored[0]), `"email":null`)
}

// TestEmailFailedIsKeyedThroughItsStream: email.failed names only its
// email; its reason (an SMTP refusal quoting the address) is encrypted
// with the key of the customer recorded for the email's stream.
func TestEmailFailedIsKeyedThroughItsStream(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	id := newCustomerID()
	eid := domain.EmailID("eml_" + uuid.NewString()[:8])
	stream := email.Stream(eid)
	planned := email.Planned{
		EmailID: eid, CustomerID: id, Type: email.OrderConfirmation, Recipient: annEmail, Subject: "Your order",
		Reason: email.Reason{EventID: "evt_1", EventType: "order.created"}, PlannedAt: time.Now().UTC(),
		Data: email.Data{FirstName: annFirst, OrderNumber: "ORD-000001"},
	}
	_, err := b.store.Append(ctx, stream, eventstore.NoStream{}, encode(t, email.Codec, email.Event(planned)))
	require.NoError(t, err)
	refusal := "550 5.1.1 <" + annEmail + ">: Recipient address rejected"
	failed := email.Failed{EmailID: eid, Reason: refusal, Permanent: true, FailedAt: time.Now().UTC()}
	// A process that has never seen the email's stream finds its customer.
	_, err = b.other(t).Append(ctx, stream, eventstore.Exact(1), encode(t, email.Codec, email.Event(failed)))
	require.NoError(t, err)

	for _, d := range storedData(t, b.pool, stream) {
		require.NotContains(t, string(d), annEmail)
		require.NotContains(t, string(d), annFirst)
	}
	read, err := b.store.ReadStream(ctx, stream, 1, 10)
	require.NoError(t, err)
	dec, err := email.Codec.Decode(read[1].Type, read[1].Data)
	require.NoError(t, err)
	require.Equal(t, email.Event(failed), dec)
	require.Contains(t, string(read[0].Data), `"order_number":"ORD-000001"`, "not personal: stays readable")

	streams, err := b.store.CustomerStreams(ctx, string(id))
	require.NoError(t, err)
	require.Equal(t, []string{stream}, streams)

	_, err = b.store.EraseCustomerKey(ctx, string(id))
	require.NoError(t, err)
	read, err = b.store.ReadStream(ctx, stream, 1, 10)
	require.NoError(t, err)
	require.Contains(t, string(read[1].Data), `"reason":null`)
	require.Contains(t, string(read[0].Data), `"recipient":null`)
	require.Contains(t, string(read[0].Data), `"subject":"Your order"`)
}

// TestPersonalDataWithoutCustomerIsRefused: personal data that no customer
// key can encrypt is not stored at all.
func TestPersonalDataWithoutCustomerIsRefused(t *testing.T) {
	t.Parallel()
	b := setup(t)
	failed := email.Failed{EmailID: "eml_orphan", Reason: "550 <" + annEmail + ">", FailedAt: time.Now().UTC()}
	_, err := b.store.Append(t.Context(), email.Stream("eml_orphan"), eventstore.Any{}, encode(t, email.Codec, email.Event(failed)))
	require.ErrorIs(t, err, eventstore.ErrInvalidAppend)
	require.Empty(t, storedData(t, b.pool, email.Stream("eml_orphan")))

	// Without a personal value there is nothing to key.
	failed.Reason = ""
	_, err = b.store.Append(t.Context(), email.Stream("eml_orphan"), eventstore.Any{}, encode(t, email.Codec, email.Event(failed)))
	require.NoError(t, err)
}

// TestWrongMasterKey: a Store with another DATA_KEY is refused at start
// (CheckMasterKey) and never reads data as erased on that account.
func TestWrongMasterKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	require.NoError(t, b.store.CheckMasterKey(ctx), "an empty key table accepts any key")
	id := newCustomerID()
	_, err := b.store.Append(ctx, customer.Stream(id), eventstore.NoStream{}, encode(t, customer.Codec, customer.Event(registered(id))))
	require.NoError(t, err)
	require.NoError(t, b.store.CheckMasterKey(ctx))

	wrongKey := bytes.Repeat([]byte{0x42}, crypto.MasterKeySize)
	wrong, err := crypto.New(b.inner, b.pool, wrongKey)
	require.NoError(t, err)
	err = wrong.CheckMasterKey(ctx)
	require.ErrorIs(t, err, crypto.ErrWrongMasterKey)
	require.ErrorContains(t, err, "1 customers' data keys")
	_, err = wrong.ReadStream(ctx, customer.Stream(id), 1, 1)
	require.ErrorIs(t, err, crypto.ErrWrongMasterKey)

	_, err = crypto.New(b.inner, b.pool, wrongKey[:16])
	require.Error(t, err, "the master key is 32 bytes")
}

// TestTamperedValueIsAnError: ciphertext that fails authentication (edited,
// or moved to another field) is an error, not an erased value.
func TestTamperedValueIsAnError(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	id := newCustomerID()
	stream := customer.Stream(id)
	_, err := b.store.Append(ctx, stream, eventstore.NoStream{}, encode(t, customer.Codec, customer.Event(registered(id))))
	require.NoError(t, err)

	// Swap the encrypted first and last names in the stored row.
	_, err = b.pool.Exec(ctx, `UPDATE eventstore_events SET data = convert_to(jsonb_set(jsonb_set(
		convert_from(data, 'UTF8')::jsonb, '{first_name}', convert_from(data, 'UTF8')::jsonb->'last_name'),
		'{last_name}', convert_from(data, 'UTF8')::jsonb->'first_name')::text, 'UTF8') WHERE stream_id = $1`, stream)
	require.NoError(t, err)
	_, err = b.store.ReadStream(ctx, stream, 1, 1)
	require.ErrorContains(t, err, "fails authentication")
}

// TestCustomerEvents: a customer's events across their streams, in global
// order, decrypted; other customers' are not included.
func TestCustomerEvents(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	ann, bob := newCustomerID(), newCustomerID()
	var want []uuid.UUID
	appendTo := func(id domain.CustomerID, stream string, e eventstore.EventData) {
		_, err := b.store.Append(ctx, stream, eventstore.Any{}, e)
		require.NoError(t, err)
		if id == ann {
			want = append(want, e.ID)
		}
	}
	appendTo(ann, customer.Stream(ann), encode(t, customer.Codec, customer.Event(registered(ann))))
	appendTo(bob, customer.Stream(bob), encode(t, customer.Codec, customer.Event(registered(bob))))
	oid := domain.OrderID("ord_" + uuid.NewString()[:8])
	created := order.Created{OrderID: oid, Number: "ORD-000001", CustomerID: ann, DeliveryMethod: order.Delivery,
		BillingAddress: registered(ann).Address, CreatedAt: time.Now().UTC()}
	appendTo(ann, order.Stream(oid), encode(t, order.Codec, order.Event(created)))
	newName := "Anne"
	appendTo(ann, customer.Stream(ann), encode(t, customer.Codec, customer.Event(customer.DetailsChanged{CustomerID: ann, FirstName: &newName})))
	appendTo(ann, order.Stream(oid), encode(t, order.Codec, order.Event(order.PickedUp{OrderID: oid, CustomerID: ann, PickedUpAt: time.Now().UTC()})))

	events, err := b.store.CustomerEvents(ctx, string(ann))
	require.NoError(t, err)
	var got []uuid.UUID
	for _, e := range events {
		got = append(got, e.ID)
	}
	require.Equal(t, want, got)
	require.Contains(t, string(events[1].Data), annStreet, "decrypted")
}

// TestRetriedAppendIsIdempotent: a retry of an append (same event ids) is
// recognised although its ciphertext differs (a new nonce per value).
func TestRetriedAppendIsIdempotent(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := t.Context()
	id := newCustomerID()
	ev := encode(t, customer.Codec, customer.Event(registered(id)))
	first, err := b.store.Append(ctx, customer.Stream(id), eventstore.NoStream{}, ev)
	require.NoError(t, err)
	again, err := b.store.Append(ctx, customer.Stream(id), eventstore.NoStream{}, ev)
	require.NoError(t, err)
	require.Equal(t, first, again)
	require.Len(t, storedData(t, b.pool, customer.Stream(id)), 1)
}

func Example() {
	// In cmd/subsd: the store every part of the service uses.
	ctx := context.Background()
	pool, _ := pgxpool.New(ctx, "postgres://127.0.0.1:5432/subsd")
	defer pool.Close()
	masterKey := make([]byte, crypto.MasterKeySize) // DATA_KEY, base64-decoded
	store, err := crypto.New(postgres.New(pool), pool, masterKey)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = store // append, read and subscribe through it; erase with EraseCustomerKey
}
