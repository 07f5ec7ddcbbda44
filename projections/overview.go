package projections

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/order"
	"github.com/subsd/subsd/domain/subscription"
)

// customersOverview is GET /v1/customers: one row per customer with name,
// email, city, subscription status and total paid, searchable by name,
// email, id and order number, filterable by subscription status.
//
// Document (a list item):
//
//	{"id", "version", "first_name", "last_name", "name", "email", "city",
//	 "subscription_status", "subscription_statuses", "total_paid", "created_at"}
//
// subscription_status is the customer's most relevant subscription status
// (active, past_due, paused, canceling, pending, canceled, in that order of
// preference), null without subscriptions; ?status= matches any of the
// customer's subscriptions (subscription_statuses). total_paid is what the
// customer's invoices have collected less what was refunded, subscriptions
// and one-off orders alike.
type customersOverview struct{}

type overviewState struct {
	ID         string            `json:"id"`
	Version    uint64            `json:"version"`
	Registered bool              `json:"registered"`
	FirstName  string            `json:"first_name"`
	LastName   string            `json:"last_name"`
	Email      string            `json:"email"`
	City       string            `json:"city"`
	CreatedAt  time.Time         `json:"created_at"`
	Subs       []overviewSub     `json:"subs"`
	Invoices   []overviewInvoice `json:"invoices"`
	Orders     []string          `json:"orders"`
}

type overviewSub struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

type overviewInvoice struct {
	ID       string       `json:"id"`
	Paid     domain.Money `json:"paid"`
	Refunded domain.Money `json:"refunded"`
}

var overviewTypes = types(typesOf(
	customer.Registered{}, customer.DetailsChanged{}, customer.PersonalDataErased{},
	subscription.Created{}, subscription.Activated{}, subscription.Recovered{}, subscription.MarkedPastDue{},
	subscription.Paused{}, subscription.Resumed{}, subscription.CancelRequested{}, subscription.Canceled{},
	subscription.TermCompleted{},
	order.Created{},
	invoice.AttemptSucceeded{}, invoice.Refunded{},
)...)

func (customersOverview) Name() string            { return "customers_overview" }
func (customersOverview) Version() int            { return 1 }
func (customersOverview) Handles(typ string) bool { return overviewTypes[typ] }

func (customersOverview) Indexes() []string {
	return []string{
		`CREATE INDEX documents_sort_idx ON %[1]s.documents (sort_key DESC, id DESC)`,
		`CREATE INDEX documents_search_idx ON %[1]s.documents USING gin (search gin_trgm_ops)`,
	}
}

func (customersOverview) Apply(ctx context.Context, s *Session, e Event) error {
	id, ok := overviewCustomerOf(e.Data)
	if !ok {
		return nil
	}
	st, err := Get[overviewState](ctx, s, kindCustomer, string(id))
	if err != nil {
		return err
	}
	if st == nil {
		st = &overviewState{ID: string(id)}
	}
	switch ev := e.Data.(type) {
	case customer.Registered:
		st.Version, st.Registered = e.Version, true
		st.FirstName, st.LastName, st.Email, st.City = ev.FirstName, ev.LastName, string(ev.Email), ev.Address.City
		st.CreatedAt = ev.RegisteredAt
	case customer.DetailsChanged:
		st.Version = e.Version
		if ev.FirstName != nil {
			st.FirstName = *ev.FirstName
		}
		if ev.LastName != nil {
			st.LastName = *ev.LastName
		}
		if ev.Email != nil {
			st.Email = string(*ev.Email)
		}
		if ev.Address != nil {
			st.City = ev.Address.City
		}
	case customer.PersonalDataErased:
		st.Version = e.Version
		st.FirstName, st.LastName, st.Email, st.City = "", "", "", ""
	case subscription.Created:
		st.setStatus(string(ev.SubscriptionID), subscription.StatusPending)
	case subscription.Activated:
		st.setStatus(string(ev.SubscriptionID), subscription.StatusActive)
	case subscription.Recovered:
		st.setStatus(string(ev.SubscriptionID), ev.Status)
	case subscription.MarkedPastDue:
		st.setStatus(string(ev.SubscriptionID), subscription.StatusPastDue)
	case subscription.Paused:
		st.setStatus(string(ev.SubscriptionID), subscription.StatusPaused)
	case subscription.Resumed:
		st.setStatus(string(ev.SubscriptionID), subscription.StatusActive)
	case subscription.CancelRequested:
		// As subscription.Evolve: a past-due subscription stays past_due.
		if sub := find(st.Subs, func(x *overviewSub) bool { return x.ID == string(ev.SubscriptionID) }); sub == nil || sub.Status != string(subscription.StatusPastDue) {
			st.setStatus(string(ev.SubscriptionID), subscription.StatusCanceling)
		}
	case subscription.Canceled:
		st.setStatus(string(ev.SubscriptionID), subscription.StatusCanceled)
	case subscription.TermCompleted:
		st.setStatus(string(ev.SubscriptionID), subscription.StatusCanceled)
	case order.Created:
		if !slices.Contains(st.Orders, string(ev.Number)) {
			st.Orders = append(st.Orders, string(ev.Number))
		}
	case invoice.AttemptSucceeded:
		inv := st.invoice(string(ev.InvoiceID))
		inv.Paid = ev.PaidTotal
	case invoice.Refunded:
		inv := st.invoice(string(ev.InvoiceID))
		inv.Refunded = ev.RefundedTotal
	}
	Put(s, kindCustomer, string(id), st)
	return nil
}

func overviewCustomerOf(e any) (domain.CustomerID, bool) {
	switch e := e.(type) {
	case customer.Registered:
		return e.CustomerID, true
	case customer.DetailsChanged:
		return e.CustomerID, true
	case customer.PersonalDataErased:
		return e.CustomerID, true
	case subscription.Created:
		return e.CustomerID, true
	case subscription.Activated:
		return e.CustomerID, true
	case subscription.Recovered:
		return e.CustomerID, true
	case subscription.MarkedPastDue:
		return e.CustomerID, true
	case subscription.Paused:
		return e.CustomerID, true
	case subscription.Resumed:
		return e.CustomerID, true
	case subscription.CancelRequested:
		return e.CustomerID, true
	case subscription.Canceled:
		return e.CustomerID, true
	case subscription.TermCompleted:
		return e.CustomerID, true
	case order.Created:
		return e.CustomerID, true
	case invoice.AttemptSucceeded:
		return e.CustomerID, true
	case invoice.Refunded:
		return e.CustomerID, true
	}
	return "", false
}

func (st *overviewState) setStatus(id string, status subscription.Status) {
	upsert(&st.Subs, overviewSub{ID: id, Status: string(status)}, func(x *overviewSub) bool { return x.ID == id })
}

func (st *overviewState) invoice(id string) *overviewInvoice {
	if inv := find(st.Invoices, func(x *overviewInvoice) bool { return x.ID == id }); inv != nil {
		return inv
	}
	st.Invoices = append(st.Invoices, overviewInvoice{ID: id})
	return &st.Invoices[len(st.Invoices)-1]
}

// statusPreference orders statuses by how much they say about a customer.
var statusPreference = []subscription.Status{
	subscription.StatusActive, subscription.StatusPastDue, subscription.StatusPaused,
	subscription.StatusCanceling, subscription.StatusPending, subscription.StatusCanceled,
}

func (customersOverview) Render(kind, id string, state any) (Document, bool, error) {
	st, ok := state.(*overviewState)
	if !ok || kind != kindCustomer {
		return Document{}, false, fmt.Errorf("customers_overview: unexpected state %s %T", kind, state)
	}
	if !st.Registered {
		return Document{}, false, nil
	}
	var statuses []string
	for _, want := range statusPreference {
		if slices.ContainsFunc(st.Subs, func(x overviewSub) bool { return x.Status == string(want) }) {
			statuses = append(statuses, string(want))
		}
	}
	total := domain.Money{}
	for _, inv := range st.Invoices {
		net, err := inv.Paid.Sub(inv.Refunded)
		if err == nil {
			total, err = total.Add(net)
		}
		if err != nil {
			return Document{}, false, fmt.Errorf("customers_overview: total paid of %s: %w", st.ID, err)
		}
	}
	name := strings.TrimSpace(st.FirstName + " " + st.LastName)

	w := &jsonWriter{b: make([]byte, 0, 384)}
	w.obj()
	w.key("id")
	w.str(st.ID)
	w.key("version")
	w.int(int64(st.Version))
	w.key("first_name")
	w.str(st.FirstName)
	w.key("last_name")
	w.str(st.LastName)
	w.key("name")
	w.str(name)
	w.key("email")
	w.str(st.Email)
	w.key("city")
	w.str(st.City)
	w.key("subscription_status")
	if len(statuses) > 0 {
		w.str(statuses[0])
	} else {
		w.null()
	}
	w.key("subscription_statuses")
	w.arr()
	for _, s := range statuses {
		w.str(s)
	}
	w.endArr()
	w.key("total_paid")
	w.moneyOr(total, domain.EUR)
	w.key("created_at")
	w.time(st.CreatedAt)
	w.end()

	search := []string{strings.ToLower(name), strings.ToLower(st.Email), strings.ToLower(st.ID)}
	for _, n := range st.Orders {
		search = append(search, strings.ToLower(n))
	}
	return Document{
		JSON: w.bytes(), Version: st.Version, SortAt: st.CreatedAt,
		Search: strings.Join(search, "\n"), Statuses: statuses,
	}, true, nil
}
