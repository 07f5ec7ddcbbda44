package projections

import (
	"context"
	"fmt"

	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/email"
)

// emailHistory is GET /v1/customers/{id}/emails: every email of a
// customer, a document per email listed under the customer (parent) and
// paged newest planned first.
//
// Document (a list item, the same as the customer page's emails[]):
//
//	{"id", "type", "subject", "status", "planned_at", "sent_at", "failed_at", "canceled_at", "reference"}
//
// status is planned, sent or failed, or canceled for a withdrawn charge
// reminder (email.StatusCanceled, additive to API.md's three).
type emailHistory struct{}

// emailHistoryCustomer marks a customer as known, so that the history of a
// customer without emails is an empty list rather than a 404.
type emailHistoryCustomer struct {
	ID string `json:"id"`
}

var emailHistoryTypes = types(typesOf(
	customer.Registered{}, email.Planned{}, email.Sent{}, email.Failed{}, email.Canceled{},
)...)

func (emailHistory) Name() string            { return "email_history" }
func (emailHistory) Version() int            { return 1 }
func (emailHistory) Handles(typ string) bool { return emailHistoryTypes[typ] }

func (emailHistory) Indexes() []string {
	return []string{`CREATE INDEX documents_parent_sort_idx ON %[1]s.documents (parent, sort_key DESC, id DESC)`}
}

func (emailHistory) Apply(ctx context.Context, s *Session, e Event) error {
	switch ev := e.Data.(type) {
	case customer.Registered:
		Put(s, kindCustomer, string(ev.CustomerID), &emailHistoryCustomer{ID: string(ev.CustomerID)})
	case email.Event:
		id := idOf(e.StreamID, email.StreamPrefix)
		m, err := Get[emailEntry](ctx, s, kindEmail, id)
		if err != nil {
			return err
		}
		if m == nil {
			m = &emailEntry{ID: id}
		}
		m.evolve(ev)
		Put(s, kindEmail, id, m)
	}
	return nil
}

func (emailHistory) Render(kind, id string, state any) (Document, bool, error) {
	switch st := state.(type) {
	case *emailEntry:
		if st.Type == "" {
			return Document{}, false, nil // never planned
		}
		w := &jsonWriter{b: make([]byte, 0, 320)}
		st.render(w)
		return Document{JSON: w.bytes(), Parent: st.CustomerID, SortAt: st.PlannedAt}, true, nil
	case *emailHistoryCustomer:
		return Document{}, false, nil
	}
	return Document{}, false, fmt.Errorf("email_history: unexpected state %s %T", kind, state)
}
