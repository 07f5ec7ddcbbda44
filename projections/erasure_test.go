package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/crypto"
	"github.com/subsd/subsd/eventstore/eventrouter"
	"github.com/subsd/subsd/eventstore/postgres"
	"github.com/subsd/subsd/eventstore/postgres/pgtest"
)

// details are a customer's personal data as the tests look for it.
type details struct{ first, last, email, street, zip, city string }

func (d details) all() []string { return []string{d.first, d.last, d.email, d.street, d.zip, d.city} }

// xanthe is the erased customer: her details are found nowhere else in a
// scenario.
var xanthe = details{"Xanthippe", "Quistorp-Zwartekop", "xanthippe.q@example.org", "Zonnebloemstraat 77", "9999 ZZ", "Appelscha"}

// cryptoBundle is setup over the personal-data encryption the service runs
// with.
type cryptoBundle struct {
	*bundle
	crypto *crypto.Store
}

func setupCrypto(t *testing.T) *cryptoBundle {
	t.Helper()
	pool := pgtest.NewPool(t)
	ctx := context.Background()
	require.NoError(t, postgres.Migrate(ctx, pool))
	require.NoError(t, eventrouter.Migrate(ctx, pool))
	require.NoError(t, crypto.Migrate(ctx, pool))
	inner := postgres.New(pool, postgres.WithLogger(discard()), postgres.WithPollInterval(20*time.Millisecond))
	store, err := crypto.New(inner, pool, make([]byte, crypto.MasterKeySize))
	require.NoError(t, err)
	require.NoError(t, Ensure(ctx, pool, store))
	loc, err := time.LoadLocation("Europe/Amsterdam")
	require.NoError(t, err)
	reader := NewReader(pool, WithStore(store), WithLocation(loc), WithLogger(discard()))
	t.Cleanup(reader.Close)
	return &cryptoBundle{bundle: &bundle{ctx: ctx, pool: pool, store: inner, reader: reader}, crypto: store}
}

// startRouter runs every projection live over the decrypting store until
// the test ends.
func (b *cryptoBundle) startRouter(t *testing.T) {
	t.Helper()
	r, err := eventrouter.NewRouter(b.pool, b.crypto, eventrouter.Config{
		Logger: discard(), MaxRetries: 1, RetryInitialInterval: time.Millisecond, RetryMaxInterval: 5 * time.Millisecond,
		NackDelay: 10 * time.Millisecond, CloseTimeout: 10 * time.Second,
	})
	require.NoError(t, err)
	Register(r)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
}

// readModelText is every row of every projection, as text.
func readModelText(t *testing.T, b *bundle) string {
	t.Helper()
	var sb strings.Builder
	for _, n := range Names() {
		rm := snapshot(t, b.ctx, b.pool, n)
		for _, row := range append(rm.documents, rm.states...) {
			sb.WriteString(n + " " + row + "\n")
		}
	}
	return sb.String()
}

// TestErasureReachesEveryReadModel runs a random scenario through the
// encrypting store with every projection live, with one customer whose
// details appear nowhere else; erases them as command.ErasePersonalData
// does (key first, then the event); and requires that no row of any read
// model (documents and working states) holds any of their details, that
// later events of theirs do not bring any back, that other customers keep
// theirs, and that a rebuild from the log gives the live rows byte for
// byte.
func TestErasureReachesEveryReadModel(t *testing.T) {
	t.Parallel()
	b := setupCrypto(t)
	b.startRouter(t)
	w := newWorld(t, b.ctx, b.crypto, nil, 7)
	w.changeSettings()
	for range 5 {
		w.newCustomer()
	}
	// Given Xanthippe, subscribed, among a few other customers,
	id := domain.CustomerID(w.id("cus_"))
	home := domain.Address{Street: xanthe.street, Zipcode: xanthe.zip, City: xanthe.city, Country: "NL"}
	_, err := run(w, customer.Aggregate, customer.Stream(id), customer.Register{
		CustomerID: id, FirstName: xanthe.first, LastName: xanthe.last, Email: domain.Email(xanthe.email),
		Address: home, ShippingAddress: &home, At: w.now,
	})
	require.NoError(t, err)
	w.customers = append(w.customers, id)
	w.newSubscription(id)
	// and a history of orders, invoices, payments, emails and the rest,
	start := time.Now()
	for w.events < 1000 {
		w.step()
	}
	t.Logf("scenario: %d events in %s", w.events, time.Since(start))
	require.False(t, stateOf[customer.State](w, customer.Stream(id)).Erased, "the scenario erased her itself: pick another seed")
	b.waitLive(t, w.last)
	t.Logf("caught up after %s", time.Since(start))
	before := readModelText(t, b.bundle)
	for _, s := range xanthe.all() {
		require.Contains(t, before, s, "the read models show her details before the erasure")
	}

	// when her data key is destroyed and the erasure appended,
	_, err = b.crypto.EraseCustomerKey(b.ctx, string(id))
	require.NoError(t, err)
	_, err = run(w, customer.Aggregate, customer.Stream(id), customer.ErasePersonalData{CustomerID: id, Actor: "admin:test", At: w.now})
	require.NoError(t, err)
	b.waitLive(t, w.last)
	t.Logf("erasure applied after %s", time.Since(start))

	// then no read model holds any of it,
	requireNone(t, readModelText(t, b.bundle), xanthe)
	doc, err := b.reader.Customer(b.ctx, string(id))
	require.NoError(t, err)
	var page map[string]any
	require.NoError(t, json.Unmarshal(doc.JSON, &page))
	require.Equal(t, map[string]any{
		"first_name": "", "last_name": "", "email": "", "phone": nil, "address": nil, "shipping_address": nil,
		"registered_at": page["customer"].(map[string]any)["registered_at"], "erased_at": w.now.UTC().Format(time.RFC3339),
	}, page["customer"])
	require.NotEmpty(t, page["subscriptions"], "the rest of her page stays")

	// and what happens to her afterwards brings nothing back,
	for target := w.events + 400; w.events < target; {
		w.step()
	}
	t.Logf("%d events in all after %s", w.events, time.Since(start))
	b.waitLive(t, w.last)
	t.Logf("caught up after %s", time.Since(start))
	requireNone(t, readModelText(t, b.bundle), xanthe)
	// while the other customers keep their details,
	other, err := b.reader.Customer(b.ctx, string(w.customers[0]))
	require.NoError(t, err)
	require.Contains(t, string(other.JSON), "@example.com")

	// and a rebuild from the log gives the live rows byte for byte.
	for _, n := range Names() {
		live := snapshot(t, b.ctx, b.pool, n)
		require.NoError(t, Rebuild(b.ctx, b.pool, b.crypto, n))
		requireSameRows(t, n, live, snapshot(t, b.ctx, b.pool, n))
	}
	t.Logf("rebuilt after %s", time.Since(start))
}

// TestErasureDuringARebuild: a session that applied a customer's events
// while their key still existed (a rebuild reading the log when the
// erasure happens) drops what it holds of them when it reaches the
// erasure, in memory as in a transaction.
func TestErasureDuringARebuild(t *testing.T) {
	t.Parallel()
	b := setupCrypto(t)
	w := newWorld(t, b.ctx, b.crypto, nil, 11)
	w.changeSettings()
	id := domain.CustomerID(w.id("cus_"))
	home := domain.Address{Street: xanthe.street, Zipcode: xanthe.zip, City: xanthe.city, Country: "NL"}
	_, err := run(w, customer.Aggregate, customer.Stream(id), customer.Register{
		CustomerID: id, FirstName: xanthe.first, LastName: xanthe.last, Email: domain.Email(xanthe.email), Address: home, At: w.now,
	})
	require.NoError(t, err)
	w.customers = append(w.customers, id)
	w.newSubscription(id)
	for range 50 {
		w.oneOffOrder()
		w.advance()
	}

	// A rebuild reads and applies the log while the key exists,
	sessions := make([]*Session, 0, len(All()))
	for _, p := range All() {
		s := newMemorySession(p)
		s.history = b.crypto
		sessions = append(sessions, s)
	}
	apply := func(events []eventstore.RecordedEvent) {
		for _, re := range events {
			ev, err := decode(re)
			require.NoError(t, err)
			for _, s := range sessions {
				if ev != nil && handles(s.p, re.Type) {
					require.NoError(t, s.apply(b.ctx, Event{RecordedEvent: re, Data: ev}))
				}
			}
		}
	}
	log := b.readLogFrom(t, b.crypto, eventstore.Start, w.events)
	apply(log)
	held := statesText(t, sessions)
	require.Contains(t, held, xanthe.email)

	// then the customer is erased, and the rebuild reads on.
	_, err = b.crypto.EraseCustomerKey(b.ctx, string(id))
	require.NoError(t, err)
	_, err = run(w, customer.Aggregate, customer.Stream(id), customer.ErasePersonalData{CustomerID: id, Actor: "admin:test", At: w.now})
	require.NoError(t, err)
	apply(b.readLogFrom(t, b.crypto, log[len(log)-1].Position, 1))

	requireNone(t, statesText(t, sessions), xanthe)
}

// readLogFrom reads n events of store after pos.
func (b *bundle) readLogFrom(t *testing.T, store eventstore.Store, pos eventstore.Position, n int) []eventstore.RecordedEvent {
	t.Helper()
	var all []eventstore.RecordedEvent
	require.Eventually(t, func() bool {
		page, err := store.ReadAll(b.ctx, pos, 1000)
		require.NoError(t, err)
		all = append(all, page...)
		if len(page) > 0 {
			pos = page[len(page)-1].Position
		}
		return len(all) >= n
	}, 30*time.Second, 10*time.Millisecond)
	return all
}

// statesText is every state and document of sessions, as text.
func statesText(t *testing.T, sessions []*Session) string {
	t.Helper()
	var sb strings.Builder
	for _, s := range sessions {
		for k, e := range s.states {
			if e.v == nil {
				continue
			}
			raw, err := json.Marshal(e.v)
			require.NoError(t, err)
			fmt.Fprintf(&sb, "%s %s/%s %s\n", s.p.Name(), k.kind, k.id, raw)
			if doc, ok, err := s.p.Render(k.kind, k.id, e.v); err == nil && ok {
				sb.Write(doc.JSON)
				sb.WriteByte('\n')
			}
		}
	}
	return sb.String()
}

// requireNone fails with the lines of text that hold any of d's details.
func requireNone(t *testing.T, text string, d details) {
	t.Helper()
	var found []string
	for _, line := range strings.Split(text, "\n") {
		for _, s := range d.all() {
			if strings.Contains(line, s) {
				if len(line) > 400 {
					i := max(0, strings.Index(line, s)-150)
					line = line[:min(len(line), 120)] + " ... " + line[i:min(len(line), i+300)]
				}
				found = append(found, s+": "+line)
				break
			}
		}
	}
	require.Empty(t, found, "rows holding the erased customer's details")
}
