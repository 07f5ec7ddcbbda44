package projections

import (
	"slices"
	"strings"
	"time"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/email"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/subscription"
)

// State kinds shared by several projections.
const (
	kindCustomer     = "customer"
	kindSubscription = "subscription"
	kindOrder        = "order"
	kindInvoice      = "invoice"
	kindEmail        = "email"
	kindSettings     = "settings"
)

// settingsDocID is the id of the customer detail projection's one
// non-customer document: the track & trace setting as a JSON boolean, which
// the Reader fills into every customer page (patch.go).
const settingsDocID = "_settings"

// Links the pages carry. The invoice PDF is served by this API; the Stripe
// dashboard pages are found by the ids Stripe gave.
const (
	stripePaymentURL  = "https://dashboard.stripe.com/payments/"
	stripeCustomerURL = "https://dashboard.stripe.com/customers/"
)

func invoicePDFURL(id domain.InvoiceID) string { return "/v1/invoices/" + string(id) + "/pdf" }

// stripePayment returns the Stripe dashboard page of a payment intent, or ""
// while there is none. The dashboard's payment page is also where a refund
// is made, so it is both the "Stripe Dashboard" and the "Refund via Stripe"
// link of the order page.
func stripePayment(intent string) string {
	if intent == "" {
		return ""
	}
	return stripePaymentURL + intent
}

// idOf returns the id part of a stream name ("order-ord_1" → "ord_1").
func idOf(stream, prefix string) string { return strings.TrimPrefix(stream, prefix) }

// emailEntry is one email as the customer page and the email history show
// it. Its Status follows email.Evolve: planned, sent, failed, or canceled
// (a withdrawn charge reminder).
type emailEntry struct {
	ID         string    `json:"id"`
	CustomerID string    `json:"customer_id,omitempty"`
	Type       string    `json:"type"`
	Subject    string    `json:"subject"`
	Reference  string    `json:"reference,omitempty"`
	Status     string    `json:"status"`
	PlannedAt  time.Time `json:"planned_at"`
	SentAt     time.Time `json:"sent_at,omitzero"`
	FailedAt   time.Time `json:"failed_at,omitzero"`
	CanceledAt time.Time `json:"canceled_at,omitzero"`
}

// evolve applies an email event the way email.Evolve does, keeping only
// what the pages show.
func (m *emailEntry) evolve(e email.Event) {
	switch e := e.(type) {
	case email.Planned:
		m.ID, m.CustomerID = string(e.EmailID), string(e.CustomerID)
		m.Type, m.Subject, m.Reference = string(e.Type), e.Subject, e.Reason.Reference
		m.PlannedAt, m.Status, m.CanceledAt = e.PlannedAt, string(email.StatusPlanned), time.Time{}
	case email.Sent:
		m.Status, m.SentAt = string(email.StatusSent), e.SentAt
	case email.Failed:
		m.Status, m.FailedAt = string(email.StatusFailed), e.FailedAt
	case email.Canceled:
		m.Status, m.CanceledAt = string(email.StatusCanceled), e.CanceledAt
	}
}

func (m *emailEntry) render(w *jsonWriter) {
	w.obj()
	w.key("id")
	w.str(m.ID)
	w.key("type")
	w.str(m.Type)
	w.key("subject")
	w.str(m.Subject)
	w.key("status")
	w.str(m.Status)
	w.key("planned_at")
	w.time(m.PlannedAt)
	w.key("sent_at")
	w.time(m.SentAt)
	w.key("failed_at")
	w.time(m.FailedAt)
	w.key("canceled_at")
	w.time(m.CanceledAt)
	w.key("reference")
	w.strOrNull(m.Reference)
	w.end()
}

// newestEmailFirst orders emails by planned time, newest first, then by id.
func newestEmailFirst(a, b *emailEntry) int {
	if c := b.PlannedAt.Compare(a.PlannedAt); c != 0 {
		return c
	}
	return strings.Compare(b.ID, a.ID)
}

// evolveInvoice applies an invoice event with the domain's own Evolve and
// drops what no page of this package reads from the state (the lines and
// addresses are the invoice document's, which keeps them: keep = true), so
// that states stay small.
func evolveInvoice(s invoice.State, e invoice.Event, keep bool) invoice.State {
	s = invoice.Evolve(s, e)
	if !keep {
		s.Lines, s.BillingAddress, s.ShippingAddress, s.Refunds = nil, domain.Address{}, nil, nil
	}
	return s
}

// evolveSubscription applies a subscription event with the domain's own
// Evolve, dropping the per-invoice ledger and payment ids, which only
// Decide reads.
func evolveSubscription(s subscriptionState, e subscription.Event) subscriptionState {
	n := subscription.Evolve(subscription.State(s), e)
	n.Invoices, n.Payments = nil, nil
	return subscriptionState(n)
}

// upcomingCharge returns when the subscription's next charge will be made,
// if one is coming: an active subscription's next_charge_at, or a pending
// one's first charge before it is made. Pending subscriptions are charged
// once (the first charge activates them), and paused, past-due, canceling
// and canceled ones not at all, so they have none.
func upcomingCharge(s *subscriptionState) (time.Time, bool) {
	switch {
	case s.NextChargeAt.IsZero():
		return time.Time{}, false
	case s.Status == subscription.StatusActive:
		return s.NextChargeAt, true
	case s.Status == subscription.StatusPending && s.Cycle == 0:
		return s.NextChargeAt, true
	}
	return time.Time{}, false
}

// upsert replaces the element of *list for which match holds, or appends v.
func upsert[T any](list *[]T, v T, match func(*T) bool) {
	for i := range *list {
		if match(&(*list)[i]) {
			(*list)[i] = v
			return
		}
	}
	*list = append(*list, v)
}

// find returns the element of list for which match holds.
func find[T any](list []T, match func(*T) bool) *T {
	for i := range list {
		if match(&list[i]) {
			return &list[i]
		}
	}
	return nil
}

// sorted returns pointers to the elements of list ordered by cmp: a
// rendering order that never touches the state (Render must not change it).
func sorted[T any](list []T, cmp func(a, b *T) int) []*T {
	out := make([]*T, len(list))
	for i := range list {
		out[i] = &list[i]
	}
	slices.SortStableFunc(out, cmp)
	return out
}

// subscriptionState is subscription.State field for field, so that one
// converts to the other for free, with JSON tags that leave out what is
// zero (most instants of a subscription are): states are encoded on every
// live event and for every row a rebuild writes, so their size is the
// projections' main cost after decoding events. A field added to
// subscription.State breaks the conversion at compile time, which is the
// point: the mirror must follow.
type subscriptionState struct {
	ID                  domain.SubscriptionID                    `json:"id"`
	CustomerID          domain.CustomerID                        `json:"customer_id"`
	Status              subscription.Status                      `json:"status"`
	Plan                subscription.Plan                        `json:"plan"`
	TermCycles          int                                      `json:"term_cycles,omitempty"`
	DeliveryMethod      subscription.DeliveryMethod              `json:"delivery_method"`
	PaymentMethodID     string                                   `json:"payment_method_id,omitempty"`
	SignedUpAt          time.Time                                `json:"signed_up_at,omitzero"`
	ActivatedAt         time.Time                                `json:"activated_at,omitzero"`
	PausedAt            time.Time                                `json:"paused_at,omitzero"`
	CancelRequestedAt   time.Time                                `json:"cancel_requested_at,omitzero"`
	CanceledAt          time.Time                                `json:"canceled_at,omitzero"`
	EndsAt              time.Time                                `json:"ends_at,omitzero"`
	EndsOn              domain.Date                              `json:"ends_on,omitzero"`
	CancelReason        string                                   `json:"cancel_reason,omitempty"`
	CancelCause         subscription.CancelCause                 `json:"cancel_cause,omitempty"`
	PastDueAt           time.Time                                `json:"past_due_at,omitzero"`
	PastDueInvoiceID    domain.InvoiceID                         `json:"past_due_invoice_id,omitempty"`
	PastDueFinalAction  subscription.FinalAction                 `json:"past_due_final_action,omitempty"`
	TotalPaid           domain.Money                             `json:"total_paid"`
	ChargeAnchorAt      time.Time                                `json:"charge_anchor_at,omitzero"`
	ChargeSlot          int                                      `json:"charge_slot,omitempty"`
	Cycle               int                                      `json:"cycle,omitempty"`
	CycleStartedAt      time.Time                                `json:"cycle_started_at,omitzero"`
	CycleEndsAt         time.Time                                `json:"cycle_ends_at,omitzero"`
	NextChargeAt        time.Time                                `json:"next_charge_at,omitzero"`
	LastChargeInvoiceID domain.InvoiceID                         `json:"last_charge_invoice_id,omitempty"`
	Invoices            map[domain.InvoiceID]subscription.Ledger `json:"invoices,omitempty"`
	Payments            map[domain.PaymentID]domain.InvoiceID    `json:"payments,omitempty"`
	Products            []subscription.Product                   `json:"products,omitempty"`
}

// customerState is customer.State as subscriptionState is
// subscription.State.
type customerState struct {
	ID               domain.CustomerID      `json:"id"`
	FirstName        string                 `json:"first_name,omitempty"`
	LastName         string                 `json:"last_name,omitempty"`
	Email            domain.Email           `json:"email,omitempty"`
	Phone            domain.Phone           `json:"phone,omitempty"`
	Address          domain.Address         `json:"address,omitzero"`
	ShippingAddress  *domain.Address        `json:"shipping_address,omitempty"`
	RegisteredAt     time.Time              `json:"registered_at,omitzero"`
	StripeCustomerID string                 `json:"stripe_customer_id,omitempty"`
	ReturnLabels     []customer.ReturnLabel `json:"return_labels,omitempty"`
	Erased           bool                   `json:"erased,omitempty"`
	ErasedAt         time.Time              `json:"erased_at,omitzero"`
}

// evolveCustomer applies a customer event with the domain's own Evolve.
func evolveCustomer(s customerState, e customer.Event) customerState {
	return customerState(customer.Evolve(customer.State(s), e))
}
