package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/command"
	"github.com/subsd/subsd/domain"
)

// griselda is the customer the erasure test erases. Her details are found
// nowhere else, so that any occurrence in the database is hers.
var griselda = struct {
	first, last, email, phone, street, zipcode, city string
}{"Griselda", "Oosterveen-Quackenbush", "griselda.quackenbush@example.net", "+31 6 9876 5432",
	"Quackenbushsingel 41", "8899 QZ", "Quackendam"}

// needles are what the scan looks for: the name and email the issue
// names, and the rest of her details.
func needles() []string {
	g := griselda
	return []string{g.first, g.last, g.email, "+31698765432", g.street, g.zipcode, g.city}
}

// TestErasure is the erasure test of issue 6, through the real binary with
// Stripe (stripe-mock) and SMTP (an in-process server) for real: a customer
// with distinctive details subscribes (paid through Stripe), orders (sent,
// with a tracking link), asks for a return label, changes her details and
// cancels with a reason that names her; emails are planned and sent, jobs
// run, and some writes carry Idempotency-Key. Then she is erased, and
//
//   - every text, varchar, json, jsonb, bytea (and text array) column of
//     every table of the database, in every schema (the event store, the
//     data keys, the read models, River's tables, the idempotency keys, the
//     workers' tables), holds none of her details, as text or as UTF-8
//     bytes; River's job table and the idempotency table are checked by
//     name as well;
//   - every page shows her as erased, the history and as_of included, while
//     her invoices keep their numbers and amounts, and another customer is
//     untouched;
//   - a replay of every read model from the log still holds none of it.
//
// The scan is shown to work first: before the erasure it finds her in the
// read models and the stored responses, and not in the event store, whose
// copy is encrypted.
func TestErasure(t *testing.T) {
	t.Parallel()
	c := startCycle(t)
	start := time.Date(2031, 3, 3, 9, 0, 0, 0, time.UTC)
	c.advance(t, start)
	c.write(t, call{Method: "PUT", Path: "/v1/settings/email", Body: map[string]any{
		"track_and_trace_enabled": true, "charge_reminder_days_before": 3, "from_name": "Koffie", "from_address": "shop@koffie.example",
	}}, http.StatusOK)

	g := griselda
	home := map[string]any{"street": g.street, "zipcode": g.zipcode, "city": g.city, "country": "NL"}
	cus := c.write(t, call{Method: "POST", Path: "/v1/customers", Header: map[string]string{"Idempotency-Key": "k-create"},
		Body: map[string]any{"first_name": g.first, "last_name": g.last, "email": g.email, "phone": g.phone, "address": home}},
		http.StatusCreated)
	cusID := cus["id"].(string)
	other := c.newCustomer(t, "bystander@example.com")
	c.write(t, call{Method: "PATCH", Path: "/v1/customers/" + other, Header: map[string]string{"Idempotency-Key": "k-other"},
		Body: map[string]any{"last_name": "Bystander"}}, http.StatusOK)

	// A subscription, its first charge paid through Stripe.
	sub := c.write(t, call{Method: "POST", Path: "/v1/subscriptions", Body: map[string]any{
		"customer_id": cusID, "delivery_method": "delivery", "payment_method_id": "pm_card_visa",
		"plan": map[string]any{"name": "Coffee", "price": money(2500), "interval": map[string]any{"unit": "month", "count": 1}},
		"products": []any{map[string]any{"product_id": "beans", "name": "Beans", "quantity": 1,
			"interval": map[string]any{"unit": "week", "count": 2}}},
	}}, http.StatusCreated)
	subID := domain.SubscriptionID(sub["id"].(string))
	c.advance(t, start)
	inv1 := command.ChargeInvoiceID(subID, 1)
	c.webhook(t, "evt_g1_paid", "payment_intent.succeeded", inv1, 1, string(subID), cusID, 2500, "")
	c.advance(t, start)

	// A one-off order, sent with a tracking link that carries her postcode.
	ord := c.write(t, call{Method: "POST", Path: "/v1/orders", Header: map[string]string{"Idempotency-Key": "k-order"},
		Body: map[string]any{"customer_id": cusID, "delivery_method": "delivery",
			"items": []any{map[string]any{"product_id": "descaler", "name": "Descaler", "quantity": 1, "unit_price": money(999)}}}},
		http.StatusCreated)
	ordID := ord["id"].(string)
	invID := at(t, ord, "invoice.id").(string)
	c.write(t, call{Method: "POST", Path: "/v1/orders/" + ordID + "/tracking", Body: map[string]any{
		"tracking_code": "3SQUACK41", "tracking_url": "https://jouw.postnl.nl/track-and-trace/3SQUACK41-NL-" + strings.ReplaceAll(g.zipcode, " ", ""),
		"carrier": "PostNL"}}, http.StatusOK)
	c.write(t, call{Method: "POST", Path: "/v1/customers/" + cusID + "/return-label"}, http.StatusOK)
	c.write(t, call{Method: "PATCH", Path: "/v1/customers/" + cusID, Header: map[string]string{"Idempotency-Key": "k-patch"},
		Body: map[string]any{"shipping_address": home}}, http.StatusOK)
	c.write(t, call{Method: "POST", Path: "/v1/subscriptions/" + string(subID) + "/cancel",
		Body: map[string]any{"at_period_end": true, "reason": g.first + " " + g.last + " moves abroad"}}, http.StatusOK)
	c.advance(t, start.Add(time.Hour))

	before := c.read(t, "/v1/customers/"+cusID)
	require.Equal(t, g.first, at(t, before, "customer.first_name"))
	require.NotEmpty(t, before["emails"], "emails were planned")
	mails := c.mails(t)
	require.NotEmpty(t, mails, "emails were sent")
	require.Equal(t, "3SQUACK41", at(t, before, "track_and_trace.last.code"))

	// The scan works: before the erasure it finds her in the read models
	// and in the stored responses, and not in the event store (encrypted).
	found := scanDatabase(t, c.dbURL, needles())
	t.Logf("before the erasure, her details are in %d columns:\n%s", len(found), strings.Join(found, "\n"))
	require.True(t, slices.ContainsFunc(found, func(f string) bool { return strings.HasPrefix(f, "rm_customer_detail.") }), "%v", found)
	require.True(t, slices.ContainsFunc(found, func(f string) bool { return strings.HasPrefix(f, "public.http_idempotency_keys.body") }), "%v", found)
	require.False(t, slices.ContainsFunc(found, func(f string) bool { return strings.HasPrefix(f, "public.eventstore_events.") }), "%v", found)
	require.Positive(t, count(t, c.dbURL, `SELECT count(*) FROM river_job`), "River ran jobs")

	// When she is erased,
	erased := c.write(t, call{Method: "DELETE", Path: "/v1/customers/" + cusID + "/personal-data"}, http.StatusOK)
	require.Equal(t, map[string]any{"first_name": "", "last_name": "", "email": "", "phone": nil, "address": nil, "shipping_address": nil},
		pick(at(t, erased, "customer"), "first_name", "last_name", "email", "phone", "address", "shipping_address"))
	require.NotNil(t, at(t, erased, "customer.erased_at"))
	// (only an admin may; again is the same answer.)
	c.do(t, call{Method: "DELETE", Path: "/v1/customers/" + cusID + "/personal-data", Token: schedulerToken}).
		fails(t, http.StatusForbidden, "forbidden", "")
	c.do(t, call{Method: "DELETE", Path: "/v1/customers/cus_nobody/personal-data"}).fails(t, http.StatusNotFound, "customer_not_found", "")
	require.Equal(t, erased, c.write(t, call{Method: "DELETE", Path: "/v1/customers/" + cusID + "/personal-data"}, http.StatusOK))
	c.advance(t, start.Add(2*time.Hour)) // whatever the erasure set off runs

	// then no column of any table holds anything of hers,
	require.Empty(t, scanDatabase(t, c.dbURL, needles()), "columns holding her details after the erasure")
	require.Positive(t, count(t, c.dbURL, `SELECT count(*) FROM river_job`))
	require.Zero(t, count(t, c.dbURL, `SELECT count(*) FROM river_job WHERE strpos(lower(args::text || coalesce(errors::text, '') || metadata::text), lower($1)) > 0`, g.email))
	require.Zero(t, count(t, c.dbURL, `SELECT count(*) FROM http_idempotency_keys WHERE position(convert_to($1, 'UTF8') IN coalesce(body, '')) > 0`, g.first))
	require.Positive(t, count(t, c.dbURL, `SELECT count(*) FROM http_idempotency_keys WHERE status IS NOT NULL`), "other stored responses stay")

	// every page shows her erased,
	pages := []string{
		"/v1/customers/" + cusID, "/v1/customers/" + cusID + "/emails?limit=100", "/v1/subscriptions/" + string(subID),
		"/v1/orders/" + ordID, "/v1/invoices/" + invID, "/v1/invoices/" + string(inv1),
		"/v1/customers?query=" + url.QueryEscape(g.last), "/v1/customers?limit=100",
		"/v1/customers/" + cusID + "/history?limit=100",
		"/v1/customers/" + cusID + "?as_of=" + url.QueryEscape(start.Add(90*time.Minute).Format(time.RFC3339)),
		"/v1/events?limit=100&stream=" + url.QueryEscape("customer-"+cusID),
	}
	for _, p := range pages {
		r := c.do(t, call{Method: "GET", Path: p, Header: map[string]string{"X-Min-Position": c.last}})
		require.Equal(t, http.StatusOK, r.status, "%s: %s", p, r.raw)
		for _, n := range needles() {
			require.NotContains(t, strings.ToLower(string(r.raw)), strings.ToLower(n), p)
		}
	}
	// her invoices keep what the law requires,
	inv := c.read(t, "/v1/invoices/"+invID)
	require.Equal(t, at(t, ord, "invoice.number"), inv["number"])
	require.Equal(t, money(999), inv["amount"])
	require.Equal(t, "NL", at(t, inv, "billing_address.country"))
	require.Equal(t, "", inv["customer_name"])
	// her history keeps every event, with her fields empty (the store reads
	// them as null; the history shows events decoded into their current
	// shape, where null is a string's empty value),
	history := c.read(t, "/v1/customers/"+cusID+"/history?limit=100")
	events := history["data"].([]any)
	require.Equal(t, "customer.registered", at(t, events[0], "type"))
	require.Empty(t, at(t, events[0], "data.first_name"))
	require.Empty(t, at(t, events[0], "data.email"))
	require.Equal(t, "NL", at(t, events[0], "data.address.country"))
	require.Equal(t, "customer.personal_data_erased", at(t, events[len(events)-1], "type"))
	// and the other customer keeps theirs.
	require.Equal(t, "bystander@example.com", at(t, c.read(t, "/v1/customers/"+other), "customer.email"))

	// A replay of every read model from the log holds none of it either.
	var out, logs bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"replay"}, env(map[string]string{"DATABASE_URL": c.dbURL}), &out, &logs), "%s", logs.String())
	require.Empty(t, scanDatabase(t, c.dbURL, needles()), "columns holding her details after a replay")
	require.Equal(t, "", at(t, c.read(t, "/v1/customers/"+cusID), "customer.first_name"))
}

// scanDatabase returns "schema.table.column" for every column of the
// database that holds one of needles, case-insensitively: every text,
// varchar, char, json, jsonb and text-array column as text, and every
// bytea column as bytes (the needle's UTF-8 in its given, lower and upper
// case).
func scanDatabase(t *testing.T, dbURL string, needles []string) []string {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dbURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `
SELECT c.table_schema, c.table_name, c.column_name, c.data_type, c.udt_name
FROM information_schema.columns c
JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
WHERE t.table_type = 'BASE TABLE'
  AND c.table_schema NOT IN ('pg_catalog', 'information_schema')
  AND (c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb', 'bytea')
       OR (c.data_type = 'ARRAY' AND c.udt_name IN ('_text', '_varchar', '_json', '_jsonb')))
ORDER BY 1, 2, 3`)
	require.NoError(t, err)
	type column struct{ schema, table, name, typ, udt string }
	cols, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (column, error) {
		var c column
		return c, r.Scan(&c.schema, &c.table, &c.name, &c.typ, &c.udt)
	})
	require.NoError(t, err)
	require.Greater(t, len(cols), 30, "the scan sees the database's columns")
	t.Logf("scanning %d columns", len(cols))
	tables := map[string]bool{}
	var found []string
	for _, col := range cols {
		tables[col.schema+"."+col.table] = true
		ident := pgx.Identifier{col.schema, col.table}.Sanitize()
		c := pgx.Identifier{col.name}.Sanitize()
		for _, n := range needles {
			var q string
			var args []any
			if col.typ == "bytea" {
				q = fmt.Sprintf(`SELECT count(*) FROM %s WHERE position(convert_to($1, 'UTF8') IN %s) > 0
					OR position(convert_to($2, 'UTF8') IN %s) > 0 OR position(convert_to($3, 'UTF8') IN %s) > 0`, ident, c, c, c)
				args = []any{n, strings.ToLower(n), strings.ToUpper(n)}
			} else {
				q = fmt.Sprintf(`SELECT count(*) FROM %s WHERE strpos(lower(%s::text), lower($1)) > 0`, ident, c)
				args = []any{n}
			}
			var k int64
			require.NoError(t, conn.QueryRow(ctx, q, args...).Scan(&k), q)
			if k > 0 {
				found = append(found, fmt.Sprintf("%s.%s.%s (%q in %d rows)", col.schema, col.table, col.name, n, k))
			}
		}
	}
	for _, want := range []string{"public.eventstore_events", "public.customer_data_keys", "public.river_job",
		"public.http_idempotency_keys", "rm_customer_detail.documents", "rm_customer_detail.states"} {
		require.True(t, tables[want], "the scan covers %s", want)
	}
	return found
}

// count runs a count query on dbURL.
func count(t *testing.T, dbURL, query string, args ...any) int64 {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dbURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var n int64
	require.NoError(t, conn.QueryRow(t.Context(), query, args...).Scan(&n))
	return n
}
