package projections

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/order"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/eventrouter"
)

type listed struct {
	ID                   string   `json:"id"`
	Name                 string   `json:"name"`
	SubscriptionStatuses []string `json:"subscription_statuses"`
}

func ids(t *testing.T, p Page) []string {
	t.Helper()
	var out []string
	for _, d := range p.Data {
		var l listed
		require.NoError(t, json.Unmarshal(d, &l))
		out = append(out, l.ID)
	}
	return out
}

// TestCustomersList pages through the overview (newest first, stable, no
// row twice or missing) and searches it by name, email, id and order
// number, case-insensitively, and by subscription status.
func TestCustomersList(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := newWorld(t, b.ctx, b.store, nil, 3)
	w.changeSettings()
	for len(w.customers) < 45 {
		w.step()
		w.newCustomer()
	}
	b.runProjections(t)
	b.waitLive(t, w.last)

	var all []string
	cursor := ""
	for {
		p, err := b.reader.Customers(b.ctx, CustomerFilter{Cursor: cursor, Limit: 7})
		require.NoError(t, err)
		require.LessOrEqual(t, len(p.Data), 7)
		all = append(all, ids(t, p)...)
		if !p.HasMore {
			require.Empty(t, p.NextCursor)
			break
		}
		cursor = p.NextCursor
	}
	require.Len(t, all, len(w.customers))
	for i, id := range w.customers { // registered in order, listed newest first
		require.Equal(t, string(id), all[len(all)-1-i])
	}
	first, err := b.reader.Customers(b.ctx, CustomerFilter{})
	require.NoError(t, err)
	require.Len(t, first.Data, DefaultLimit)

	// Search: one customer's own values, in another case.
	c := stateOf[customer.State](w, "customer-"+string(w.customers[3]))
	for _, q := range []string{c.LastName, string(c.Email), string(c.ID)} {
		p, err := b.reader.Customers(b.ctx, CustomerFilter{Query: swapCase(q), Limit: 100})
		require.NoError(t, err)
		require.Contains(t, ids(t, p), string(c.ID), "query %q", q)
	}
	// An order number finds its customer.
	o := stateOf[order.State](w, "order-"+string(w.orders[0]))
	p, err := b.reader.Customers(b.ctx, CustomerFilter{Query: string(o.Number), Limit: 100})
	require.NoError(t, err)
	require.Equal(t, []string{string(o.CustomerID)}, ids(t, p))
	p, err = b.reader.Customers(b.ctx, CustomerFilter{Query: "no such customer %_"})
	require.NoError(t, err)
	require.Empty(t, p.Data)

	// Status: every customer listed has a subscription in it.
	p, err = b.reader.Customers(b.ctx, CustomerFilter{Status: "active", Limit: 100})
	require.NoError(t, err)
	require.NotEmpty(t, p.Data)
	for _, d := range p.Data {
		var l listed
		require.NoError(t, json.Unmarshal(d, &l))
		require.Contains(t, l.SubscriptionStatuses, "active")
	}

	for _, f := range []CustomerFilter{{Status: "sleeping"}, {Cursor: "%%%"}, {Cursor: "bm9wZQ"}, {Limit: 101}, {Limit: -1}} {
		_, err := b.reader.Customers(b.ctx, f)
		var de *domain.Error
		require.True(t, errors.As(err, &de), "%+v: %v", f, err)
		require.Equal(t, domain.KindInvalid, de.Kind)
	}
}

// TestCustomerEmails pages through a customer's whole email history,
// newest planned first; an unknown customer is ErrNotFound and a customer
// without emails an empty list.
func TestCustomerEmails(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w, _, last := b.loadScript(t)
	b.runProjections(t)
	b.waitLive(t, last)

	ann := string(w.customers[0])
	doc, err := b.reader.Customer(b.ctx, ann)
	require.NoError(t, err)
	var detail struct {
		Emails      []json.RawMessage `json:"emails"`
		EmailsTotal int               `json:"emails_total"`
	}
	require.NoError(t, json.Unmarshal(doc.JSON, &detail))

	var all []json.RawMessage
	cursor := ""
	for {
		p, err := b.reader.CustomerEmails(b.ctx, ann, cursor, 3)
		require.NoError(t, err)
		all = append(all, p.Data...)
		if !p.HasMore {
			break
		}
		cursor = p.NextCursor
	}
	require.Len(t, all, detail.EmailsTotal)
	for i, e := range detail.Emails { // the page's latest 10 are the history's first 10
		require.JSONEq(t, string(e), string(all[i]))
	}

	_, err = b.reader.CustomerEmails(b.ctx, "cus_nobody", "", 0)
	require.ErrorIs(t, err, ErrNotFound)
	_, err = b.reader.CustomerEmails(b.ctx, "not-an-id", "", 0)
	require.ErrorIs(t, err, ErrNotFound)
}

// TestNotFound: ids that name nothing, or are not ids of the kind at all,
// are ErrNotFound, never an error of the database.
func TestNotFound(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for _, f := range []func(context.Context, string) (Doc, error){b.reader.Customer, b.reader.Order, b.reader.Subscription, b.reader.Invoice} {
		for _, id := range []string{"cus_x", "ord_x", "sub_x", "inv_x", "_settings", "", "'; DROP TABLE x"} {
			_, err := f(b.ctx, id)
			require.ErrorIs(t, err, ErrNotFound, "%q", id)
		}
	}
}

// TestWaitFor: WaitFor returns once every projection has applied a write's
// position, and not before; with the projections stopped it waits until
// its context ends.
func TestWaitFor(t *testing.T) {
	t.Parallel()
	b := setup(t)
	w := newWorld(t, b.ctx, b.store, nil, 5)
	w.newCustomer()
	ctx, cancel := context.WithTimeout(b.ctx, 100*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, b.reader.WaitFor(ctx, w.last), context.DeadlineExceeded)
	require.NoError(t, b.reader.WaitFor(b.ctx, eventstore.Start))

	b.runProjections(t)
	for range 20 {
		id := w.newCustomer()
		start := time.Now()
		require.NoError(t, b.reader.WaitFor(b.ctx, w.last))
		doc, err := b.reader.Customer(b.ctx, string(id)) // read your write
		require.NoError(t, err)
		require.NotEmpty(t, doc.JSON)
		require.Less(t, time.Since(start), 5*time.Second)
	}
}

// TestStatuses reports each projection's position, lag and status.
func TestStatuses(t *testing.T) {
	t.Parallel()
	b := setup(t)
	_, script, last := b.loadScript(t)
	b.readLog(t, len(script)) // the log is visible to ReadAll
	sts, err := b.reader.Statuses(b.ctx)
	require.NoError(t, err)
	require.Len(t, sts, len(All()))
	for _, s := range sts {
		require.Equal(t, "live", s.Status, s.Name)
		require.Equal(t, "0", s.Position)
		require.Positive(t, s.Lag, s.Name)
	}

	b.runProjections(t)
	b.waitLive(t, last)
	sts, err = b.reader.Statuses(b.ctx)
	require.NoError(t, err)
	for _, s := range sts {
		require.Equal(t, Status{Name: s.Name, Position: last.Token(), Lag: 0, Status: "live", Version: 1}, s)
	}

	// While a rebuild holds its lock the projection is rebuilding; a
	// rebuild that died (its lock gone, its status left) is failed.
	p, err := ByName("order")
	require.NoError(t, err)
	unlock, err := lockRebuilds(b.ctx, b.pool, []Projection{p})
	require.NoError(t, err)
	_, err = b.pool.Exec(b.ctx, `UPDATE projection_registry SET status = 'rebuilding' WHERE name = 'order'`)
	require.NoError(t, err)
	status := func(name string) string {
		sts, err := b.reader.Statuses(b.ctx)
		require.NoError(t, err)
		for _, s := range sts {
			if s.Name == name {
				return s.Status
			}
		}
		return ""
	}
	require.Equal(t, "rebuilding", status("order"))
	unlock()
	require.Equal(t, "failed", status("order"))
	require.NoError(t, Rebuild(b.ctx, b.pool, b.store, "order"))
	require.Equal(t, "live", status("order"))

	// A poisoned event makes the projection failed until it is rebuilt.
	_, err = b.pool.Exec(b.ctx, `INSERT INTO consumer_poisoned_events (consumer, event_id, stream_id, version, position_major, position_minor, type, error)
		VALUES ('invoice', gen_random_uuid(), 'invoice-inv_x', 1, 1, 1, 'invoice.created', 'boom')`)
	require.NoError(t, err)
	sts, err = b.reader.Statuses(b.ctx)
	require.NoError(t, err)
	for _, s := range sts {
		require.Equal(t, s.Name == "invoice", s.Status == "failed", s.Name)
	}
	poisoned, err := eventrouter.PoisonedEvents(b.ctx, b.pool, "invoice")
	require.NoError(t, err)
	require.Len(t, poisoned, 1)
	require.NoError(t, Rebuild(b.ctx, b.pool, b.store, "invoice"))
	sts, err = b.reader.Statuses(b.ctx)
	require.NoError(t, err)
	for _, s := range sts {
		require.Equal(t, "live", s.Status, s.Name)
	}
}

func swapCase(s string) string {
	out := []rune(s)
	for i, r := range out {
		switch {
		case r >= 'a' && r <= 'z':
			out[i] = r - 32
		case r >= 'A' && r <= 'Z':
			out[i] = r + 32
		}
	}
	return string(out)
}
