package projections

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/email"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/order"
	"github.com/subsd/subsd/domain/settings"
	"github.com/subsd/subsd/domain/subscription"
)

// customerDetail is GET /v1/customers/{id}: every section of API.md's
// customer detail page in one document per customer, computed from that
// customer's streams (customer, subscriptions, orders, invoices, emails)
// and the settings stream alone, so that the same Apply folded over one
// customer's history answers ?as_of= (FoldCustomer).
//
// Document:
//
//	{"id", "version" (the customer stream's),
//	 "customer": {first_name, last_name, email, phone|null, address|null, shipping_address|null, registered_at, erased_at|null},
//	 "subscriptions": [{id, version, status, plan {name, price, interval {unit, count}}, delivery_method, term_cycles|null,
//	     signed_up_at, activated_at, paused_at, cancel_requested_at, canceled_at, ends_at, subscribed_days, total_paid,
//	     next_charge_at, products: [{product_id, name, quantity, interval, price|null, next_shipment_on, last_shipped_on}]}],
//	 "track_and_trace": {enabled, last: {order_id, order_number, code, url, carrier, sent_at}|null},
//	 "return_label": {email_id, requested_at, sent_at}|null,
//	 "payments": [{id|null, date, amount, status, invoice_id, invoice_number, stripe_payment_intent_id}],
//	 "invoices": [{id, number, customer_name, created_at, amount, status, retries, retry_pending, next_retry_at, pdf_url,
//	     stripe_payment_intent_id}],
//	 "orders": [{id, number, status, shipped_on, tracking_code}],
//	 "emails": [the latest 10: {id, type, subject, status, planned_at, sent_at, failed_at, canceled_at, reference}],
//	 "emails_total"}
//
// Lists are newest first. Decisions where API.md is silent:
//
//   - subscribed_days and track_and_trace.enabled are holes filled at read
//     time (patch.go): the first changes daily, the second is global.
//   - next_charge_at is the charge that will be made (upcomingCharge): null
//     for paused, past-due, canceling and canceled subscriptions, whose
//     state may still hold a date that will not be charged.
//   - payments: one entry per payment attempt (id is its pay_ id; date when
//     it was started; status pending while Stripe has no outcome, paid,
//     failed, or refunded once the invoice is refunded in full), plus
//     planned entries with a null id: an open invoice not yet attempted, a
//     scheduled retry, and each subscription's upcoming charge.
//   - track_and_trace.last is the latest tracking sent for any of the
//     customer's orders; a corrected code counts as sent when corrected.
//   - return_label is the latest label; its email_id is the return_label
//     email's (email.IDFor of the request event), sent_at null until sent.
type customerDetail struct{}

type detailState struct {
	ID            string          `json:"id"`
	Version       uint64          `json:"version"`
	Customer      customerState   `json:"customer"`
	Subscriptions []detailSub     `json:"subscriptions"`
	Invoices      []invoice.State `json:"invoices"`
	Orders        []detailOrder   `json:"orders"`
	Emails        []emailEntry    `json:"emails"`
	TrackAndTrace *detailTracking `json:"track_and_trace"`
	// ReturnLabelEmailID is the email of the latest return label.
	ReturnLabelEmailID string `json:"return_label_email_id"`
}

type detailSub struct {
	Version uint64            `json:"version"`
	State   subscriptionState `json:"state"`
}

type detailOrder struct {
	ID           string      `json:"id"`
	Number       string      `json:"number"`
	Status       string      `json:"status"`
	ShippedOn    domain.Date `json:"shipped_on"`
	TrackingCode string      `json:"tracking_code"`
	CreatedAt    time.Time   `json:"created_at"`
}

type detailTracking struct {
	OrderID     string    `json:"order_id"`
	OrderNumber string    `json:"order_number"`
	Code        string    `json:"code"`
	URL         string    `json:"url"`
	Carrier     string    `json:"carrier"`
	SentAt      time.Time `json:"sent_at"`
}

// detailSettings is the one global state: the track & trace setting.
type detailSettings struct {
	TrackAndTraceEnabled bool `json:"track_and_trace_enabled"`
}

// emailOwner indexes an email (whose later events do not name the
// customer) to its customer.
type emailOwner struct {
	CustomerID string `json:"customer_id"`
}

var detailTypes = types(append(append(append(typesOf(
	customer.Registered{}, customer.DetailsChanged{}, customer.ReturnLabelRequested{}, customer.PersonalDataErased{},
	customer.StripeCustomerLinked{},
	settings.EmailSettingsChanged{},
	email.Planned{}, email.Sent{}, email.Failed{}, email.Canceled{},
), subscriptionTypes...), orderTypes...), invoiceTypes...)...)

var (
	subscriptionTypes = typesOf(
		subscription.Created{}, subscription.ProductAdded{}, subscription.ProductIntervalChanged{},
		subscription.NextShipmentSet{}, subscription.ShipmentSkipped{}, subscription.ProductRemoved{},
		subscription.ShipmentDue{}, subscription.ChargeDue{}, subscription.PaymentReceived{},
		subscription.RefundRecorded{}, subscription.Activated{}, subscription.Recovered{},
		subscription.MarkedPastDue{}, subscription.Paused{}, subscription.Resumed{},
		subscription.CancelRequested{}, subscription.Canceled{}, subscription.TermCompleted{},
	)
	orderTypes = typesOf(
		order.Created{}, order.Sent{}, order.TrackingCorrected{}, order.PickedUp{}, order.Canceled{}, order.InvoiceLinked{},
	)
	invoiceTypes = typesOf(
		invoice.Created{}, invoice.AttemptStarted{}, invoice.AttemptProcessing{}, invoice.AttemptSucceeded{},
		invoice.Paid{}, invoice.AttemptFailed{}, invoice.RetryScheduled{}, invoice.RetriesExhausted{},
		invoice.Refunded{}, invoice.Voided{},
	)
)

func (customerDetail) Name() string            { return "customer_detail" }
func (customerDetail) Version() int            { return 1 }
func (customerDetail) Handles(typ string) bool { return detailTypes[typ] }
func (customerDetail) Indexes() []string       { return nil }

func (customerDetail) Apply(ctx context.Context, s *Session, e Event) error {
	if ev, ok := e.Data.(settings.EmailSettingsChanged); ok {
		Put(s, kindSettings, settingsDocID, &detailSettings{TrackAndTraceEnabled: ev.Email.TrackAndTraceEnabled})
		return nil
	}
	id, err := detailCustomerOf(ctx, s, e.Data)
	if err != nil || id == "" {
		return err
	}
	st, err := Get[detailState](ctx, s, kindCustomer, id)
	if err != nil {
		return err
	}
	if st == nil {
		st = &detailState{ID: id}
	}
	switch ev := e.Data.(type) {
	case customer.Event:
		st.Version = e.Version
		st.Customer = evolveCustomer(st.Customer, ev)
		if _, ok := ev.(customer.ReturnLabelRequested); ok {
			st.ReturnLabelEmailID = string(email.IDFor(e.ID.String(), email.ReturnLabel))
		}
	case subscription.Event:
		sid := idOf(e.StreamID, subscription.StreamPrefix)
		sub := find(st.Subscriptions, func(x *detailSub) bool { return string(x.State.ID) == sid })
		if sub == nil {
			st.Subscriptions = append(st.Subscriptions, detailSub{})
			sub = &st.Subscriptions[len(st.Subscriptions)-1]
		}
		sub.Version = e.Version
		sub.State = evolveSubscription(sub.State, ev)
	case invoice.Event:
		iid := idOf(e.StreamID, invoice.StreamPrefix)
		inv := find(st.Invoices, func(x *invoice.State) bool { return string(x.ID) == iid })
		if inv == nil {
			st.Invoices = append(st.Invoices, invoice.State{})
			inv = &st.Invoices[len(st.Invoices)-1]
		}
		*inv = evolveInvoice(*inv, ev, false)
	case order.Event:
		oid := idOf(e.StreamID, order.StreamPrefix)
		o := find(st.Orders, func(x *detailOrder) bool { return x.ID == oid })
		if o == nil {
			st.Orders = append(st.Orders, detailOrder{ID: oid})
			o = &st.Orders[len(st.Orders)-1]
		}
		st.applyOrder(o, ev)
	case email.Event:
		eid := idOf(e.StreamID, email.StreamPrefix)
		m := find(st.Emails, func(x *emailEntry) bool { return x.ID == eid })
		if m == nil {
			st.Emails = append(st.Emails, emailEntry{ID: eid})
			m = &st.Emails[len(st.Emails)-1]
		}
		m.evolve(ev)
		m.CustomerID = "" // the document's own id
		if p, ok := ev.(email.Planned); ok {
			Put(s, kindEmail, string(p.EmailID), &emailOwner{CustomerID: id})
		}
	}
	Put(s, kindCustomer, id, st)
	return nil
}

// detailCustomerOf returns the customer an event concerns. Every event
// names it except an email's after it is planned, which the emailOwner
// index resolves; "" for an email never planned.
func detailCustomerOf(ctx context.Context, s *Session, e any) (string, error) {
	switch e := e.(type) {
	case customer.Registered:
		return string(e.CustomerID), nil
	case customer.DetailsChanged:
		return string(e.CustomerID), nil
	case customer.ReturnLabelRequested:
		return string(e.CustomerID), nil
	case customer.PersonalDataErased:
		return string(e.CustomerID), nil
	case customer.StripeCustomerLinked:
		return string(e.CustomerID), nil
	case email.Planned:
		return string(e.CustomerID), nil
	case email.Sent:
		return emailCustomer(ctx, s, e.EmailID)
	case email.Failed:
		return emailCustomer(ctx, s, e.EmailID)
	case email.Canceled:
		return emailCustomer(ctx, s, e.EmailID)
	}
	if id, ok := customerOfBusinessEvent(e); ok {
		return string(id), nil
	}
	return "", fmt.Errorf("customer_detail: no customer for %T", e)
}

func emailCustomer(ctx context.Context, s *Session, id domain.EmailID) (string, error) {
	o, err := Get[emailOwner](ctx, s, kindEmail, string(id))
	if err != nil || o == nil {
		return "", err
	}
	return o.CustomerID, nil
}

// customerOfBusinessEvent returns the customer of a subscription, order or
// invoice event: each of them names it.
func customerOfBusinessEvent(e any) (domain.CustomerID, bool) {
	switch e := e.(type) {
	case subscription.Created:
		return e.CustomerID, true
	case subscription.ProductAdded:
		return e.CustomerID, true
	case subscription.ProductIntervalChanged:
		return e.CustomerID, true
	case subscription.NextShipmentSet:
		return e.CustomerID, true
	case subscription.ShipmentSkipped:
		return e.CustomerID, true
	case subscription.ProductRemoved:
		return e.CustomerID, true
	case subscription.ShipmentDue:
		return e.CustomerID, true
	case subscription.ChargeDue:
		return e.CustomerID, true
	case subscription.PaymentReceived:
		return e.CustomerID, true
	case subscription.RefundRecorded:
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
	case order.Sent:
		return e.CustomerID, true
	case order.TrackingCorrected:
		return e.CustomerID, true
	case order.PickedUp:
		return e.CustomerID, true
	case order.Canceled:
		return e.CustomerID, true
	case order.InvoiceLinked:
		return e.CustomerID, true
	case invoice.Created:
		return e.CustomerID, true
	case invoice.AttemptStarted:
		return e.CustomerID, true
	case invoice.AttemptProcessing:
		return e.CustomerID, true
	case invoice.AttemptSucceeded:
		return e.CustomerID, true
	case invoice.Paid:
		return e.CustomerID, true
	case invoice.AttemptFailed:
		return e.CustomerID, true
	case invoice.RetryScheduled:
		return e.CustomerID, true
	case invoice.RetriesExhausted:
		return e.CustomerID, true
	case invoice.Refunded:
		return e.CustomerID, true
	case invoice.Voided:
		return e.CustomerID, true
	}
	return "", false
}

// applyOrder applies an order event as order.Evolve does, keeping what the
// orders list and the track & trace section show.
func (st *detailState) applyOrder(o *detailOrder, e order.Event) {
	switch e := e.(type) {
	case order.Created:
		o.Number, o.ShippedOn, o.CreatedAt = string(e.Number), e.ShipOn, e.CreatedAt
		o.Status = string(order.StatusToBeSent)
		if e.DeliveryMethod == order.Pickup {
			o.Status = string(order.StatusToBePickedUp)
		}
	case order.Sent:
		o.Status, o.TrackingCode = string(order.StatusSent), e.TrackingCode
		st.TrackAndTrace = &detailTracking{OrderID: string(e.OrderID), OrderNumber: string(e.Number),
			Code: e.TrackingCode, URL: e.TrackingURL, Carrier: e.Carrier, SentAt: e.SentAt}
	case order.TrackingCorrected:
		o.TrackingCode = e.TrackingCode
		st.TrackAndTrace = &detailTracking{OrderID: string(e.OrderID), OrderNumber: string(e.Number),
			Code: e.TrackingCode, URL: e.TrackingURL, Carrier: e.Carrier, SentAt: e.CorrectedAt}
	case order.PickedUp:
		o.Status = string(order.StatusPickedUp)
	case order.Canceled:
		o.Status = string(order.StatusCanceled)
	}
}

func (customerDetail) Render(kind, id string, state any) (Document, bool, error) {
	switch st := state.(type) {
	case *detailState:
		if st.Customer.ID == "" {
			return Document{}, false, nil
		}
		return st.render(), true, nil
	case *detailSettings:
		return Document{JSON: []byte(fmt.Sprint(st.TrackAndTraceEnabled))}, true, nil
	case *emailOwner:
		return Document{}, false, nil
	}
	return Document{}, false, fmt.Errorf("customer_detail: unexpected state %s %T", kind, state)
}

// latestEmails is how many emails the customer page lists.
const latestEmails = 10

func (st *detailState) render() Document {
	w := &jsonWriter{b: make([]byte, 0, 4096)}
	w.obj()
	w.key("id")
	w.str(st.ID)
	w.key("version")
	w.int(int64(st.Version))

	c := st.Customer
	w.key("customer")
	w.obj()
	w.key("first_name")
	w.str(c.FirstName)
	w.key("last_name")
	w.str(c.LastName)
	w.key("email")
	w.str(string(c.Email))
	w.key("phone")
	w.strOrNull(string(c.Phone))
	w.key("address")
	if c.Address == (domain.Address{}) {
		w.null()
	} else {
		w.address(c.Address)
	}
	w.key("shipping_address")
	w.addressPtr(c.ShippingAddress)
	w.key("registered_at")
	w.time(c.RegisteredAt)
	w.key("erased_at")
	w.time(c.ErasedAt)
	w.end()

	w.key("subscriptions")
	w.arr()
	for _, sub := range sorted(st.Subscriptions, func(a, b *detailSub) int {
		return cmp.Or(b.State.SignedUpAt.Compare(a.State.SignedUpAt), strings.Compare(string(b.State.ID), string(a.State.ID)))
	}) {
		renderDetailSub(w, sub)
	}
	w.endArr()

	w.key("track_and_trace")
	w.obj()
	w.key("enabled")
	w.hole(holeTrackAndTrace, "false")
	w.key("last")
	if t := st.TrackAndTrace; t != nil {
		w.obj()
		w.key("order_id")
		w.str(t.OrderID)
		w.key("order_number")
		w.str(t.OrderNumber)
		w.key("code")
		w.str(t.Code)
		w.key("url")
		w.str(t.URL)
		w.key("carrier")
		w.strOrNull(t.Carrier)
		w.key("sent_at")
		w.time(t.SentAt)
		w.end()
	} else {
		w.null()
	}
	w.end()

	w.key("return_label")
	if label, ok := customer.State(c).LastReturnLabel(); ok && st.ReturnLabelEmailID != "" {
		w.obj()
		w.key("email_id")
		w.str(st.ReturnLabelEmailID)
		w.key("requested_at")
		w.time(label.RequestedAt)
		w.key("sent_at")
		var sent time.Time
		if m := find(st.Emails, func(x *emailEntry) bool { return x.ID == st.ReturnLabelEmailID }); m != nil {
			sent = m.SentAt
		}
		w.time(sent)
		w.end()
	} else {
		w.null()
	}

	w.key("payments")
	w.arr()
	for _, p := range st.payments() {
		w.obj()
		w.key("id")
		w.strOrNull(p.id)
		w.key("date")
		w.time(p.date)
		w.key("amount")
		w.money(p.amount)
		w.key("status")
		w.str(p.status)
		w.key("invoice_id")
		w.strOrNull(p.invoiceID)
		w.key("invoice_number")
		w.strOrNull(p.invoiceNumber)
		w.key("stripe_payment_intent_id")
		w.strOrNull(p.intent)
		w.end()
	}
	w.endArr()

	w.key("invoices")
	w.arr()
	for _, inv := range sorted(st.Invoices, func(a, b *invoice.State) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(string(b.ID), string(a.ID)))
	}) {
		if !inv.Exists() {
			continue
		}
		w.obj()
		w.key("id")
		w.str(string(inv.ID))
		w.key("number")
		w.str(string(inv.Number))
		w.key("customer_name")
		w.str(inv.CustomerName)
		w.key("created_at")
		w.time(inv.CreatedAt)
		w.key("amount")
		w.money(inv.Amount)
		w.key("status")
		w.str(string(inv.Status))
		w.key("retries")
		w.int(int64(inv.Retries))
		w.key("retry_pending")
		w.bool(inv.RetryPending)
		w.key("next_retry_at")
		w.timePtr(inv.NextRetryAt)
		w.key("pdf_url")
		w.str(invoicePDFURL(inv.ID))
		w.key("stripe_payment_intent_id")
		w.strOrNull(inv.StripePaymentIntentID)
		w.end()
	}
	w.endArr()

	w.key("orders")
	w.arr()
	for _, o := range sorted(st.Orders, func(a, b *detailOrder) int {
		return cmp.Or(b.CreatedAt.Compare(a.CreatedAt), strings.Compare(b.ID, a.ID))
	}) {
		if o.Number == "" {
			continue // events of an order whose creation has not been seen
		}
		w.obj()
		w.key("id")
		w.str(o.ID)
		w.key("number")
		w.str(o.Number)
		w.key("status")
		w.str(o.Status)
		w.key("shipped_on")
		w.date(o.ShippedOn)
		w.key("tracking_code")
		w.strOrNull(o.TrackingCode)
		w.end()
	}
	w.endArr()

	emails := sorted(st.Emails, newestEmailFirst)
	total := 0
	w.key("emails")
	w.arr()
	for _, m := range emails {
		if m.Type == "" {
			continue // events of an email whose planning has not been seen
		}
		if total < latestEmails {
			m.render(w)
		}
		total++
	}
	w.endArr()
	w.key("emails_total")
	w.int(int64(total))
	w.end()

	return Document{JSON: w.bytes(), Holes: w.holes, Version: st.Version}
}

func renderDetailSub(w *jsonWriter, sub *detailSub) {
	s := &sub.State
	w.obj()
	w.key("id")
	w.str(string(s.ID))
	w.key("version")
	w.int(int64(sub.Version))
	w.key("status")
	w.str(string(s.Status))
	w.key("plan")
	renderPlan(w, s.Plan)
	w.key("delivery_method")
	w.str(string(s.DeliveryMethod))
	w.key("term_cycles")
	renderTermCycles(w, s.TermCycles)
	w.key("signed_up_at")
	w.time(s.SignedUpAt)
	w.key("activated_at")
	w.time(s.ActivatedAt)
	w.key("paused_at")
	w.time(s.PausedAt)
	w.key("cancel_requested_at")
	w.time(s.CancelRequestedAt)
	w.key("canceled_at")
	w.time(s.CanceledAt)
	w.key("ends_at")
	w.time(s.EndsAt)
	w.key("subscribed_days")
	w.hole(holeSubscribedDays, "0", unixNano(s.ActivatedAt), unixNano(s.CanceledAt))
	w.key("total_paid")
	w.moneyOr(s.TotalPaid, s.Plan.Price.Currency())
	w.key("next_charge_at")
	next, _ := upcomingCharge(s)
	w.time(next)
	w.key("products")
	renderProducts(w, s.Products)
	w.end()
}

func renderPlan(w *jsonWriter, p subscription.Plan) {
	w.obj()
	w.key("name")
	w.str(p.Name)
	w.key("price")
	w.money(p.Price)
	w.key("interval")
	w.interval(p.Interval)
	w.end()
}

func renderTermCycles(w *jsonWriter, n int) {
	if n == 0 {
		w.null()
	} else {
		w.int(int64(n))
	}
}

func renderProducts(w *jsonWriter, ps []subscription.Product) {
	w.arr()
	for _, p := range ps {
		w.obj()
		w.key("product_id")
		w.str(string(p.ProductID))
		w.key("name")
		w.str(p.Name)
		w.key("quantity")
		w.int(int64(p.Quantity))
		w.key("interval")
		w.interval(p.Interval)
		w.key("price")
		if p.Price != nil {
			w.money(*p.Price)
		} else {
			w.null()
		}
		w.key("next_shipment_on")
		w.date(p.NextShipmentOn)
		w.key("last_shipped_on")
		w.date(p.LastShippedOn)
		w.end()
	}
	w.endArr()
}

// payment is one row of the payment history.
type payment struct {
	id            string
	date          time.Time
	amount        domain.Money
	status        string
	invoiceID     string
	invoiceNumber string
	intent        string
}

// payments returns the payment history, newest first (see customerDetail).
func (st *detailState) payments() []payment {
	var out []payment
	for i := range st.Invoices {
		inv := &st.Invoices[i]
		if !inv.Exists() {
			continue
		}
		for _, a := range inv.Attempts {
			p := payment{id: string(a.PaymentID), date: a.StartedAt, amount: a.Amount, invoiceID: string(inv.ID),
				invoiceNumber: string(inv.Number), intent: a.PaymentIntentID}
			switch a.Status {
			case invoice.AttemptStatusPending, invoice.AttemptStatusProcessing:
				p.status = "pending"
			case invoice.AttemptStatusSucceeded:
				p.status = "paid"
				if inv.Status == invoice.StatusRefunded {
					p.status = "refunded"
				}
			case invoice.AttemptStatusFailed:
				p.status = "failed"
			}
			out = append(out, p)
		}
		planned := payment{amount: inv.Amount, status: "planned", invoiceID: string(inv.ID), invoiceNumber: string(inv.Number)}
		switch {
		case inv.Status == invoice.StatusOpen && len(inv.Attempts) == 0:
			planned.date = inv.CreatedAt
			out = append(out, planned)
		case inv.RetryPending && inv.NextRetryAt != nil:
			planned.date = *inv.NextRetryAt
			out = append(out, planned)
		}
	}
	for i := range st.Subscriptions {
		s := &st.Subscriptions[i].State
		if at, ok := upcomingCharge(s); ok {
			out = append(out, payment{date: at, amount: s.Plan.Price, status: "planned"})
		}
	}
	sortedOut := sorted(out, func(a, b *payment) int {
		return cmp.Or(b.date.Compare(a.date), strings.Compare(b.invoiceNumber, a.invoiceNumber), strings.Compare(b.id, a.id))
	})
	res := make([]payment, len(sortedOut))
	for i, p := range sortedOut {
		res[i] = *p
	}
	return res
}
