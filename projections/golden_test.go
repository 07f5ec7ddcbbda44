package projections

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/order"
	"github.com/subsd/subsd/domain/settings"
	"github.com/subsd/subsd/domain/subscription"
	"github.com/subsd/subsd/eventstore"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestGolden (testdata/golden)")

// goldenScript is a small, readable history that reaches every section of
// every page: a paid subscription with an included and a priced product,
// shipments, track & trace sent and corrected, a return label, sent and
// planned emails, a one-off pickup order with a discount whose payment
// failed (a retry pending), a partial refund, a fixed-term subscription
// canceled at period end, and a hard decline that makes a subscription past
// due. Attempts' outcomes are scripted; ids and times are deterministic.
func goldenScript(w *world) {
	w.tb.Helper()
	must := func(_ any, err error) {
		w.tb.Helper()
		if err != nil {
			w.tb.Fatal(err)
		}
	}
	must(run(w, settings.Aggregate, settings.Stream(), settings.ChangeEmailSettings{
		TrackAndTraceEnabled: true, ChargeReminderDaysBefore: 3, FromName: "Koffie & Co", FromAddress: "hello@koffie.example", At: w.now,
	}))

	// Ann: a monthly coffee subscription, paid at once.
	ann := domain.CustomerID(w.id("cus_"))
	must(run(w, customer.Aggregate, customer.Stream(ann), customer.Register{
		CustomerID: ann, FirstName: "Ann", LastName: "de Vries", Email: "ann@example.com", Phone: "+31 6 1234 5678",
		Address: domain.Address{Street: "Keizersgracht 1", Zipcode: "1015 CJ", City: "Amsterdam", Country: "NL"}, At: w.now,
	}))
	w.customers = append(w.customers, ann)
	annSub := domain.SubscriptionID(w.id("sub_"))
	descaler := domain.Cents(1295)
	must(run(w, subscription.Aggregate, subscription.Stream(annSub), subscription.Create{
		SubscriptionID: annSub, CustomerID: ann, DeliveryMethod: subscription.Delivery, PaymentMethodID: "pm_card_visa",
		Plan: subscription.Plan{Name: "Coffee monthly", Price: domain.Cents(2995), Interval: domain.Interval{Unit: domain.Month, Count: 1}},
		Products: []subscription.NewProduct{
			{ProductID: "coffee-beans", Name: "Coffee beans 1kg", Quantity: 2, Interval: domain.Interval{Unit: domain.Week, Count: 2}, FirstShipmentOn: w.today().AddDays(1)},
			{ProductID: "descaler", Name: "Descaler", Quantity: 1, Interval: domain.Interval{Unit: domain.Week, Count: 4}, FirstShipmentOn: w.today().AddDays(1), Price: &descaler},
		},
		At: w.now, Location: w.loc,
	}))
	w.subs = append(w.subs, annSub)
	w.outcomes = []string{"paid"}
	w.chargeDue(annSub)
	must(run(w, customer.Aggregate, customer.Stream(ann), customer.LinkStripeCustomer{CustomerID: ann, StripeCustomerID: "cus_Stripe1", At: w.now}))

	// A day and a half later both products ship; the descaler is charged,
	// by a SEPA debit still processing.
	w.outcomes = []string{"processing"}
	w.now = w.now.Add(36 * time.Hour)
	w.scheduler()
	for _, id := range w.orders {
		o := stateOf[order.State](w, order.Stream(id))
		must(run(w, order.Aggregate, order.Stream(id), order.AddTracking{
			TrackingCode: "3SABC" + string(id)[4:], TrackingURL: "https://postnl.example/track/3SABC" + string(id)[4:], Carrier: "PostNL",
			TrackAndTraceEnabled: true, At: w.now,
		}))
		if o.Items[0].ProductID == "coffee-beans" {
			w.now = w.now.Add(time.Hour)
			must(run(w, order.Aggregate, order.Stream(id), order.AddTracking{
				TrackingCode: "3SXYZ" + string(id)[4:], TrackingURL: "https://postnl.example/track/3SXYZ" + string(id)[4:],
				TrackAndTraceEnabled: true, At: w.now,
			}))
		}
	}
	must(run(w, customer.Aggregate, customer.Stream(ann), customer.RequestReturnLabel{CustomerID: ann, LabelID: "label-1", At: w.now}))
	w.now = w.now.Add(2 * time.Hour)
	w.scheduler() // the mail worker sends what is due

	// Bob, who ships to Paris.
	bob := domain.CustomerID(w.id("cus_"))
	shipTo := domain.Address{Street: "Rue de Rivoli 8", Zipcode: "75001", City: "Paris", Country: "FR"}
	must(run(w, customer.Aggregate, customer.Stream(bob), customer.Register{
		CustomerID: bob, FirstName: "Bob", LastName: "Peeters", Email: "bob@example.be",
		Address:         domain.Address{Street: "Meir 44", Zipcode: "2000", City: "Antwerpen", Country: "BE"},
		ShippingAddress: &shipTo, At: w.now,
	}))
	w.customers = append(w.customers, bob)
	// Bob also takes a two-year machine plan, paid, and cancels it at the
	// end of the period.
	bobSub := domain.SubscriptionID(w.id("sub_"))
	term := 2
	must(run(w, subscription.Aggregate, subscription.Stream(bobSub), subscription.Create{
		SubscriptionID: bobSub, CustomerID: bob, DeliveryMethod: subscription.Pickup, TermCycles: &term,
		Plan: subscription.Plan{Name: "Machine yearly", Price: domain.Cents(19900), Interval: domain.Interval{Unit: domain.Year, Count: 1}},
		At:   w.now, Location: w.loc,
	}))
	w.subs = append(w.subs, bobSub)
	w.outcomes = []string{"paid"}
	w.chargeDue(bobSub)
	w.now = w.now.Add(24 * time.Hour)
	must(run(w, subscription.Aggregate, subscription.Stream(bobSub), subscription.Cancel{
		SubscriptionID: bobSub, AtPeriodEnd: true, Reason: "moving abroad", At: w.now, Location: w.loc,
	}))

	// Ann gets part of her first charge back.
	for _, id := range w.invoices {
		if inv := stateOf[invoice.State](w, "invoice-"+string(id)); inv.SubscriptionID == annSub && inv.Cycle == 1 {
			m := domain.Cents(500)
			must(run(w, invoice.Aggregate, "invoice-"+string(id), invoice.Refund{RefundID: "re_1", Amount: &m, At: w.now}))
		}
	}

	// Chloé's card is stolen: hard decline, past due, canceled at the end of
	// the cycle.
	chloe := domain.CustomerID(w.id("cus_"))
	must(run(w, customer.Aggregate, customer.Stream(chloe), customer.Register{
		CustomerID: chloe, FirstName: "Chloé", LastName: "Dubois", Email: "chloe@example.fr",
		Address: domain.Address{Street: "Unter den Linden 5", Zipcode: "10117", City: "Berlin", Country: "DE"}, At: w.now,
	}))
	w.customers = append(w.customers, chloe)
	chloeSub := domain.SubscriptionID(w.id("sub_"))
	must(run(w, subscription.Aggregate, subscription.Stream(chloeSub), subscription.Create{
		SubscriptionID: chloeSub, CustomerID: chloe, DeliveryMethod: subscription.Delivery,
		Plan: subscription.Plan{Name: "Espresso weekly", Price: domain.Cents(1250), Interval: domain.Interval{Unit: domain.Week, Count: 2}},
		At:   w.now, Location: w.loc,
	}))
	w.subs = append(w.subs, chloeSub)
	w.outcomes = []string{"failed_hard"}
	w.chargeDue(chloeSub)
	w.now = w.now.Add(30 * time.Minute)
	w.scheduler()

	// Bob buys a mug and a grinder to pick up, with a discount; the card is
	// declined, and a retry is scheduled.
	w.outcomes = []string{"failed"}
	w.createOrder(domain.OrderID(w.id("ord_")), bob, stateOf[customer.State](w, customer.Stream(bob)), "", w.today(), order.Pickup,
		[]domain.Line{
			{ProductID: "mug", Name: `Mug "classic"`, Quantity: 2, UnitPrice: domain.Cents(899)},
			{ProductID: "grinder", Name: "Grinder", Quantity: 1, UnitPrice: domain.Cents(4999)},
		}, domain.Cents(500))
	w.now = w.now.Add(time.Hour)
	bobOrder := w.orders[len(w.orders)-1]
	must(run(w, order.Aggregate, order.Stream(bobOrder), order.ConfirmPickup{At: w.now}))

}

// loadScript runs goldenScript in memory and appends its events to the
// store with their ids, returning them and the position of the last.
func (b *bundle) loadScript(t testing.TB) (*world, []eventstore.RecordedEvent, eventstore.Position) {
	t.Helper()
	var events []eventstore.RecordedEvent
	w := newWorld(t, b.ctx, nil, func(e eventstore.RecordedEvent) { events = append(events, e) }, 1)
	goldenScript(w)
	var last eventstore.Position
	for _, e := range events {
		res, err := b.store.Append(b.ctx, e.StreamID, eventstore.Exact(e.Version-1), eventstore.EventData{
			ID: e.ID, Type: e.Type, Data: e.Data, Metadata: e.Metadata,
		})
		require.NoError(t, err)
		last = res.Position
	}
	return w, events, last
}

// TestGolden runs goldenScript, appends its events to the store and lets
// the projections apply them live, then compares every page, as the Reader
// serves it at a fixed time, with testdata/golden/<projection>.json
// (go test ./projections -run TestGolden -update rewrites them). The
// memory-backed path must give the same pages: FoldCustomer for every
// customer, and a rebuild of every projection row for row.
func TestGolden(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w, events, last := b.loadScript(t)
	b.runProjections(t)
	b.waitLive(t, last)

	now := w.now.Add(24 * time.Hour)
	r := NewReader(b.pool, WithClock(func() time.Time { return now }), WithLocation(w.loc), WithStore(b.store))
	defer r.Close()

	pages := map[string]map[string]json.RawMessage{}
	add := func(projection, id string, doc []byte) {
		if pages[projection] == nil {
			pages[projection] = map[string]json.RawMessage{}
		}
		pages[projection][id] = doc
	}
	list, err := r.Customers(b.ctx, CustomerFilter{})
	require.NoError(t, err)
	for i, d := range list.Data {
		add("customers_overview", string(rune('a'+i)), d)
	}
	for _, id := range w.customers {
		doc, err := r.Customer(b.ctx, string(id))
		require.NoError(t, err)
		add("customer_detail", string(id), doc.JSON)
		emails, err := r.CustomerEmails(b.ctx, string(id), "", 100)
		require.NoError(t, err)
		for _, d := range emails.Data {
			var e struct{ ID string }
			require.NoError(t, json.Unmarshal(d, &e))
			add("email_history", string(id)+"/"+e.ID, d)
		}

		// customer_streams has no page of its own: the streams it lists
		// are what the history and as_of read.
		streams, err := r.CustomerStreams(b.ctx, string(id))
		require.NoError(t, err)
		listed, err := json.Marshal(streams)
		require.NoError(t, err)
		add("customer_streams", string(id), listed)

		// The memory-backed fold of the same events gives the same page.
		folded, err := FoldCustomer(b.ctx, string(id), events, now, w.loc)
		require.NoError(t, err)
		require.Equal(t, string(doc.JSON), string(folded.JSON), "FoldCustomer(%s)", id)
	}
	for _, id := range w.orders {
		doc, err := r.Order(b.ctx, string(id))
		require.NoError(t, err)
		add("order", string(id), doc.JSON)
	}
	for _, id := range w.subs {
		doc, err := r.Subscription(b.ctx, string(id))
		require.NoError(t, err)
		add("subscription", string(id), doc.JSON)
	}
	for _, id := range w.invoices {
		doc, err := r.Invoice(b.ctx, string(id))
		require.NoError(t, err)
		add("invoice", string(id), doc.JSON)
	}

	for _, p := range All() {
		docs := pages[p.Name()]
		require.NotEmpty(t, docs, p.Name())
		ids := make([]string, 0, len(docs))
		for id := range docs {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		var out bytes.Buffer
		out.WriteString("{\n")
		for i, id := range ids {
			require.True(t, json.Valid(docs[id]), "%s %s is not JSON: %s", p.Name(), id, docs[id])
			var pretty bytes.Buffer
			require.NoError(t, json.Indent(&pretty, docs[id], "  ", "  "))
			key, _ := json.Marshal(id)
			out.WriteString("  " + string(key) + ": " + pretty.String())
			if i < len(ids)-1 {
				out.WriteString(",")
			}
			out.WriteString("\n")
		}
		out.WriteString("}\n")
		path := filepath.Join("testdata", "golden", p.Name()+".json")
		if *update {
			require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
			require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
			continue
		}
		want, err := os.ReadFile(path)
		require.NoError(t, err, "no golden file: run go test ./projections -run TestGolden -update")
		require.Equal(t, string(want), out.String(), "%s differs from its golden file (-update rewrites it)", path)
	}

	// A rebuild gives the live rows, byte for byte.
	for _, n := range Names() {
		live := snapshot(t, b.ctx, b.pool, n)
		require.NoError(t, Rebuild(b.ctx, b.pool, b.store, n))
		requireSameRows(t, n, live, snapshot(t, b.ctx, b.pool, n))
	}
}
