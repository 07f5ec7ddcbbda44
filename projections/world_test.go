package projections

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/email"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/order"
	"github.com/subsd/subsd/domain/settings"
	"github.com/subsd/subsd/domain/subscription"
	"github.com/subsd/subsd/eventstore"
)

// world drives the real aggregates the way the service will: commands
// decided against the current state and appended (through eventstore.Execute
// against a real store, or decided in memory and handed to a sink), with the
// reactors of issue 5 played inline (the invoice of a due charge, the order
// of a due shipment, payments recorded on the subscription, dunning, the
// email policy and the mail worker) and a simulated clock. Its random
// actions are valid commands for the state they are decided against, mostly;
// the few the domain refuses (a *domain.Error) append nothing and are
// skipped, as a client's would be.
type world struct {
	tb    testing.TB
	ctx   context.Context
	store eventstore.Store
	// sink receives every recorded event in memory mode (store nil).
	sink func(eventstore.RecordedEvent)
	rng  *rand.Rand
	loc  *time.Location
	now  time.Time

	seq int
	// cohort prefixes this world's ids, so that worlds run one after the
	// other (bench generate) write one log without clashes.
	cohort int
	pos    uint64
	last   eventstore.Position
	events int

	states map[string]any // stream → latest state

	customers []domain.CustomerID
	subs      []domain.SubscriptionID
	orders    []domain.OrderID
	invoices  []domain.InvoiceID
	emails    []domain.EmailID // planned, not yet sent or given up on
	orderNo   int
	invoiceNo int

	settings   settings.State
	lastFailed map[domain.CustomerID]time.Time
	// outcomes, while not empty, decide the next attempts instead of the
	// random generator: "paid", "processing" or "failed" (a hard decline
	// with "failed_hard").
	outcomes []string
	// settingsFrozen keeps the world from changing the settings (a later
	// cohort of bench generate, whose settings stream is written already).
	settingsFrozen bool
}

func newWorld(tb testing.TB, ctx context.Context, store eventstore.Store, sink func(eventstore.RecordedEvent), seed uint64) *world {
	loc, err := time.LoadLocation("Europe/Amsterdam")
	if err != nil {
		tb.Fatal(err)
	}
	return &world{
		tb: tb, ctx: ctx, store: store, sink: sink,
		rng:        rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		loc:        loc,
		now:        time.Date(2026, 1, 30, 9, 15, 0, 0, time.UTC),
		states:     map[string]any{},
		lastFailed: map[domain.CustomerID]time.Time{},
	}
}

func (w *world) id(prefix string) string {
	w.seq++
	if w.cohort > 0 {
		return fmt.Sprintf("%s%03d%06d", prefix, w.cohort, w.seq)
	}
	return fmt.Sprintf("%s%06d", prefix, w.seq)
}

func (w *world) today() domain.Date { return domain.DateIn(w.now, w.loc) }

func stateOf[S any](w *world, stream string) S {
	if v, ok := w.states[stream]; ok {
		return v.(S)
	}
	var zero S
	return zero
}

// recorded is one appended event with its id.
type recorded struct {
	id string
	ev domain.Event
}

// run decides cmd against the stream's state and appends the events, then
// plays the reactions to each event. A domain refusal returns the error
// (nothing appended); anything else fails the test.
func run[S any, C any, E domain.Event](w *world, agg domain.Aggregate[S, C, E], stream string, command any) ([]E, error) {
	w.tb.Helper()
	cmd, ok := command.(C)
	if !ok {
		w.tb.Fatalf("%T is not a command of %s", command, stream)
	}
	before := stateOf[S](w, stream)
	var (
		events []E
		ids    []string
		after  S
	)
	if w.store != nil {
		res, err := eventstore.Execute(w.ctx, w.store, agg, stream, cmd, eventstore.ExecuteOptions{
			Metadata: eventstore.Metadata{Actor: "scenario", OccurredAt: w.now},
		})
		if err != nil {
			return nil, w.refused(err)
		}
		events, after = res.Events, res.State
		if len(events) > 0 {
			recs, err := w.store.ReadStream(w.ctx, stream, res.Version-uint64(len(events))+1, len(events))
			if err != nil || len(recs) != len(events) {
				w.tb.Fatalf("reading back %s: %v (%d events)", stream, err, len(recs))
			}
			for _, r := range recs {
				ids = append(ids, r.ID.String())
			}
			if w.last.Less(res.Position) {
				w.last = res.Position
			}
		}
	} else {
		evs, err := agg.Decide(before, cmd)
		if err != nil {
			return nil, w.refused(err)
		}
		events, after = evs, before
		version := uint64(0)
		if v, ok := w.states[stream+"#v"]; ok {
			version = v.(uint64)
		}
		for _, e := range evs {
			name, data, err := agg.Codec.Encode(e)
			if err != nil {
				w.tb.Fatal(err)
			}
			version++
			w.pos++
			id := uuid.UUID{}
			for i := range id {
				id[i] = byte(w.rng.Uint32())
			}
			id[6] = id[6]&0x0f | 0x40
			id[8] = id[8]&0x3f | 0x80
			re := eventstore.RecordedEvent{
				ID: id, StreamID: stream, Version: version, Position: eventstore.Position{Major: w.pos},
				Type: name, Data: data, RecordedAt: w.now,
				Metadata: eventstore.Metadata{Actor: "scenario", OccurredAt: w.now},
			}
			w.sink(re)
			ids = append(ids, id.String())
			after = agg.Evolve(after, e)
			w.last = re.Position
		}
		w.states[stream+"#v"] = version
	}
	w.states[stream] = after
	w.events += len(events)

	st := before
	for i, e := range events {
		w.react(ids[i], e, any(st))
		st = agg.Evolve(st, e)
	}
	return events, nil
}

// refused returns a domain refusal and fails on anything else.
func (w *world) refused(err error) error {
	w.tb.Helper()
	var de *domain.Error
	if errors.As(err, &de) || errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		return err
	}
	w.tb.Fatalf("command failed: %v", err)
	return err
}

// react plays the email policy and the reactors for one event; before is
// the state of its aggregate just before it.
func (w *world) react(eventID string, e domain.Event, before any) {
	var sub subscription.State
	var inv invoice.State
	switch b := before.(type) {
	case subscription.State:
		sub = b
	case invoice.State:
		inv = b
	}
	if _, isEmail := e.(email.Event); !isEmail {
		if _, isSettings := e.(settings.Event); !isSettings {
			w.policy(eventID, e, sub, inv)
		}
	}
	switch e := e.(type) {
	case subscription.ChargeDue:
		c := stateOf[customer.State](w, customer.Stream(e.CustomerID))
		w.invoiceFor(e.CustomerID, c, e.SubscriptionID, e.Cycle, "", e.InvoiceID,
			[]domain.Line{{Name: e.PlanName, Quantity: 1, UnitPrice: e.Amount}}, domain.Money{})
	case subscription.ShipmentDue:
		w.orderForShipment(e)
	case invoice.Paid:
		if e.SubscriptionID != "" {
			run(w, subscription.Aggregate, subscription.Stream(e.SubscriptionID), subscription.RecordPayment{
				SubscriptionID: e.SubscriptionID, InvoiceID: e.InvoiceID, PaymentID: e.PaymentID,
				Amount: e.Amount, At: w.now, Location: w.loc,
			})
		}
	case invoice.RetriesExhausted:
		if e.SubscriptionID != "" {
			fa := subscription.FinalActionCancelAtPeriodEnd
			switch w.settings.Dunning().FinalAction {
			case settings.CancelNow:
				fa = subscription.FinalActionCancelNow
			case settings.KeepPastDue:
				fa = subscription.FinalActionNone
			}
			run(w, subscription.Aggregate, subscription.Stream(e.SubscriptionID), subscription.MarkPastDue{
				SubscriptionID: e.SubscriptionID, InvoiceID: e.InvoiceID, FinalAction: fa, At: w.now, Location: w.loc,
			})
		}
	case invoice.Refunded:
		if e.SubscriptionID != "" {
			run(w, subscription.Aggregate, subscription.Stream(e.SubscriptionID), subscription.RecordRefund{
				SubscriptionID: e.SubscriptionID, InvoiceID: e.InvoiceID, Amount: e.Amount, At: w.now,
			})
		}
	case settings.EmailSettingsChanged, settings.DunningChanged:
		w.settings = settings.Evolve(w.settings, e.(settings.Event))
	}
}

// policy plans and cancels the emails an event causes, as the email reactor
// will.
func (w *world) policy(eventID string, e domain.Event, sub subscription.State, inv invoice.State) {
	cid, ok := email.CustomerOf(e)
	if !ok {
		return
	}
	cmds, err := email.Policy(email.PolicyInput{
		Cause:    email.Cause{EventID: eventID, Event: e, At: w.now},
		Customer: stateOf[customer.State](w, customer.Stream(cid)), Subscription: sub, Invoice: inv,
		Settings: w.settings.Email(), Location: w.loc, LastPaymentFailedAt: w.lastFailed[cid],
	})
	if err != nil {
		w.tb.Fatalf("email policy: %v", err)
	}
	for _, c := range cmds {
		switch c := c.(type) {
		case email.Plan:
			if evs, err := run(w, email.Aggregate, email.Stream(c.EmailID), c); err == nil && len(evs) > 0 {
				w.emails = append(w.emails, c.EmailID)
				if c.Type == email.PaymentFailed {
					w.lastFailed[cid] = w.now
				}
			}
		case email.Cancel:
			run(w, email.Aggregate, email.Stream(c.EmailID), c)
		}
	}
}

var (
	streets = []string{"Keizersgracht 1", "Hoofdstraat 12", "Rue de Rivoli 8", "Unter den Linden 5", "Meir 44"}
	places  = []struct {
		zip, city string
		country   domain.Country
	}{{"1015 CJ", "Amsterdam", "NL"}, {"3511 AB", "Utrecht", "NL"}, {"75001", "Paris", "FR"}, {"10117", "Berlin", "DE"}, {"2000", "Antwerpen", "BE"}}
	firstNames = []string{"Ann", "Bram", "Chloé", "Dirk", "Eva", "Femke", "Günther", "Hugo"}
	lastNames  = []string{"de Vries", "Jansen", "Müller", "Dubois", "Peeters", "van Dijk"}
	products   = []struct {
		id, name string
		price    int64 // 0: included in the plan
	}{{"coffee-beans", "Coffee beans 1kg", 0}, {"filters", "Paper filters", 0}, {"descaler", "Descaler", 1295}, {"mug", "Mug \"classic\"", 899}}
)

func (w *world) address() domain.Address {
	p := places[w.rng.IntN(len(places))]
	return domain.Address{Street: streets[w.rng.IntN(len(streets))], Zipcode: p.zip, City: p.city, Country: p.country}
}

// newCustomer registers a customer and, mostly, subscribes them.
func (w *world) newCustomer() domain.CustomerID {
	id := domain.CustomerID(w.id("cus_"))
	first, last := firstNames[w.rng.IntN(len(firstNames))], lastNames[w.rng.IntN(len(lastNames))]
	cmd := customer.Register{
		CustomerID: id, FirstName: first, LastName: last,
		Email:   domain.Email(fmt.Sprintf("%s.%d@example.com", first[:1], w.seq)),
		Address: w.address(), At: w.now,
	}
	if w.rng.IntN(2) == 0 {
		cmd.Phone = "+31 6 1234 5678"
	}
	if w.rng.IntN(4) == 0 {
		a := w.address()
		cmd.ShippingAddress = &a
	}
	if _, err := run(w, customer.Aggregate, customer.Stream(id), cmd); err != nil {
		return ""
	}
	w.customers = append(w.customers, id)
	if w.rng.IntN(10) < 8 {
		w.newSubscription(id)
	}
	return id
}

func (w *world) pickCustomer() (domain.CustomerID, bool) {
	if len(w.customers) == 0 {
		return "", false
	}
	return w.customers[w.rng.IntN(len(w.customers))], true
}

func (w *world) pickSub() (subscription.State, bool) {
	if len(w.subs) == 0 {
		return subscription.State{}, false
	}
	id := w.subs[w.rng.IntN(len(w.subs))]
	return stateOf[subscription.State](w, subscription.Stream(id)), true
}

// newSubscription subscribes the customer and makes its first charge.
func (w *world) newSubscription(cid domain.CustomerID) {
	id := domain.SubscriptionID(w.id("sub_"))
	plans := []subscription.Plan{
		{Name: "Coffee monthly", Price: domain.Cents(2995), Interval: domain.Interval{Unit: domain.Month, Count: 1}},
		{Name: "Espresso weekly", Price: domain.Cents(1250), Interval: domain.Interval{Unit: domain.Week, Count: 2}},
		{Name: "Machine yearly", Price: domain.Cents(19900), Interval: domain.Interval{Unit: domain.Year, Count: 1}},
	}
	cmd := subscription.Create{
		SubscriptionID: id, CustomerID: cid, Plan: plans[w.rng.IntN(len(plans))],
		DeliveryMethod: subscription.Delivery, At: w.now, Location: w.loc,
	}
	if w.rng.IntN(5) == 0 {
		cmd.DeliveryMethod = subscription.Pickup
	}
	if w.rng.IntN(4) == 0 {
		n := 1 + w.rng.IntN(6)
		cmd.TermCycles = &n
	}
	if w.rng.IntN(3) > 0 {
		cmd.PaymentMethodID = "pm_" + w.id("card")
	}
	for i, p := range products {
		if w.rng.IntN(3) == 0 || (i == 0 && w.rng.IntN(2) == 0) {
			np := subscription.NewProduct{
				ProductID: domain.ProductID(p.id), Name: p.name, Quantity: 1 + w.rng.IntN(2),
				Interval:        domain.Interval{Unit: domain.Week, Count: 2 + w.rng.IntN(3)},
				FirstShipmentOn: w.today().AddDays(w.rng.IntN(10)),
			}
			if p.price > 0 {
				m := domain.Cents(p.price)
				np.Price = &m
			}
			cmd.Products = append(cmd.Products, np)
		}
	}
	if _, err := run(w, subscription.Aggregate, subscription.Stream(id), cmd); err != nil {
		return
	}
	w.subs = append(w.subs, id)
	w.chargeDue(id)
}

func (w *world) chargeDue(id domain.SubscriptionID) {
	run(w, subscription.Aggregate, subscription.Stream(id), subscription.RecordChargeDue{
		SubscriptionID: id, InvoiceID: domain.InvoiceID(w.id("inv_")), At: w.now, Location: w.loc,
	})
}

// invoiceFor creates and numbers an invoice and makes its first attempt.
func (w *world) invoiceFor(cid domain.CustomerID, c customer.State, sub domain.SubscriptionID, cycle int, ord domain.OrderID, id domain.InvoiceID, lines []domain.Line, discount domain.Money) {
	w.invoiceNo++
	cmd := invoice.Create{
		InvoiceID: id, Number: domain.InvoiceNumber(fmt.Sprintf("INV-%d-%06d", w.now.In(w.loc).Year(), w.invoiceNo)),
		CustomerID: cid, CustomerName: c.Name(), SubscriptionID: sub, Cycle: cycle, OrderID: ord,
		Lines: lines, Discount: discount, BillingAddress: c.Address, ShippingAddress: c.ShippingAddress,
		VATRates: domain.DefaultVATRates(), DueOn: w.today(), At: w.now,
	}
	if cmd.CustomerName == "" {
		cmd.CustomerName = "Erased customer"
	}
	if _, err := run(w, invoice.Aggregate, invoice.Stream(id), cmd); err != nil {
		return
	}
	w.invoices = append(w.invoices, id)
	if ord != "" {
		run(w, order.Aggregate, order.Stream(ord), order.LinkInvoice{InvoiceID: id, InvoiceNumber: cmd.Number, At: w.now})
	}
	w.attempt(id)
}

// attempt starts the invoice's next attempt and gives it an outcome: paid at
// once, paid through processing, declined, or left processing.
func (w *world) attempt(id domain.InvoiceID) {
	inv := stateOf[invoice.State](w, invoice.Stream(id))
	n := len(inv.Attempts) + 1
	pay := domain.PaymentID(fmt.Sprintf("pay_%s_%d", string(id)[4:], n))
	if _, err := run(w, invoice.Aggregate, invoice.Stream(id), invoice.StartAttempt{PaymentID: pay, Attempt: n, At: w.now}); err != nil {
		return
	}
	pi := "pi_" + string(pay)[4:]
	outcome := []string{"paid", "processing", "failed"}[min(w.rng.IntN(20)/11+w.rng.IntN(20)/17, 2)]
	if len(w.outcomes) > 0 {
		outcome, w.outcomes = w.outcomes[0], w.outcomes[1:]
	}
	switch outcome {
	case "paid":
		w.succeed(id, pay, pi)
	case "processing":
		run(w, invoice.Aggregate, invoice.Stream(id), invoice.RecordAttemptProcessing{PaymentID: pay, PaymentIntentID: pi, At: w.now})
	case "failed_hard":
		w.declined(id, pay, pi, "stolen_card")
	default:
		w.fail(id, pay, pi)
	}
}

func (w *world) succeed(id domain.InvoiceID, pay domain.PaymentID, pi string) {
	run(w, invoice.Aggregate, invoice.Stream(id), invoice.RecordAttemptSucceeded{PaymentID: pay, PaymentIntentID: pi, At: w.now})
}

func (w *world) fail(id domain.InvoiceID, pay domain.PaymentID, pi string) {
	code := "card_declined"
	if w.rng.IntN(10) == 0 {
		code = "stolen_card"
	}
	w.declined(id, pay, pi, code)
}

func (w *world) declined(id domain.InvoiceID, pay domain.PaymentID, pi, code string) {
	run(w, invoice.Aggregate, invoice.Stream(id), invoice.RecordAttemptFailed{
		PaymentID: pay, PaymentIntentID: pi, DeclineCode: code, Message: "Your card was declined.",
		RetrySchedule: invoice.RetrySchedule(w.settings.Dunning().RetryDays), Location: w.loc, At: w.now,
	})
}

// orderForShipment creates the order of a due shipment, and its invoice
// when the product has a price of its own.
func (w *world) orderForShipment(e subscription.ShipmentDue) {
	c := stateOf[customer.State](w, customer.Stream(e.CustomerID))
	sub := stateOf[subscription.State](w, subscription.Stream(e.SubscriptionID))
	line := domain.Line{ProductID: e.ProductID, Name: e.Name, Quantity: e.Quantity, UnitPrice: domain.Zero(sub.Plan.Price.Currency()), IncludedInPlan: true}
	if e.UnitPrice != nil {
		line.UnitPrice, line.IncludedInPlan = *e.UnitPrice, false
	}
	method := order.Delivery
	if e.DeliveryMethod == subscription.Pickup {
		method = order.Pickup
	}
	w.createOrder(e.OrderID, e.CustomerID, c, e.SubscriptionID, e.DueOn, method, []domain.Line{line}, domain.Money{})
}

func (w *world) createOrder(id domain.OrderID, cid domain.CustomerID, c customer.State, sub domain.SubscriptionID, on domain.Date, method order.DeliveryMethod, lines []domain.Line, discount domain.Money) {
	w.orderNo++
	billing := c.Address
	if billing == (domain.Address{}) {
		billing = w.address() // an erased customer's order still has one
	}
	cmd := order.Create{
		OrderID: id, Number: domain.OrderNumber(fmt.Sprintf("ORD-%06d", w.orderNo)), CustomerID: cid, SubscriptionID: sub,
		ShipOn: on, DeliveryMethod: method, BillingAddress: billing, ShippingAddress: c.ShippingAddress,
		Items: lines, Discount: discount, VATRates: domain.DefaultVATRates(), At: w.now,
	}
	evs, err := run(w, order.Aggregate, order.Stream(id), cmd)
	if err != nil || len(evs) == 0 {
		return
	}
	w.orders = append(w.orders, id)
	created := evs[0].(order.Created)
	if created.Total.IsPositive() {
		priced := make([]domain.Line, 0, len(lines))
		for _, l := range lines {
			if !l.IncludedInPlan {
				priced = append(priced, l)
			}
		}
		w.invoiceFor(cid, c, sub, 0, id, domain.InvoiceID(w.id("inv_")), priced, discount)
	}
}

// step runs one random action.
func (w *world) step() {
	actions := []struct {
		weight int
		do     func()
	}{
		{6, func() { w.newCustomer() }},
		{12, w.advance},
		{3, w.editCustomer},
		{1, w.returnLabel},
		{1, w.linkStripe},
		{3, func() {
			if c, ok := w.pickCustomer(); ok {
				w.newSubscription(c)
			}
		}},
		{3, w.pauseOrResume},
		{2, w.cancelSubscription},
		{5, w.productChange},
		{3, w.oneOffOrder},
		{4, w.tracking},
		{2, w.pickup},
		{2, w.refund},
		{1, w.void},
		{3, w.resolvePending},
		{1, w.manualRetry},
		{1, w.changeSettings},
		{1, w.cancelOrder},
		{1, w.erase},
	}
	total := 0
	for _, a := range actions {
		total += a.weight
	}
	r := w.rng.IntN(total)
	for _, a := range actions {
		if r < a.weight {
			a.do()
			return
		}
		r -= a.weight
	}
}

// advance moves the clock on and runs what fell due: charges, shipments,
// ends, retries and the mail worker.
func (w *world) advance() {
	w.now = w.now.Add(time.Duration(1+w.rng.IntN(72)) * time.Hour).Add(time.Duration(w.rng.IntN(3600)) * time.Second)
	w.scheduler()
}

func (w *world) scheduler() {
	today := w.today()
	for _, id := range w.subs {
		stream := subscription.Stream(id)
		s := stateOf[subscription.State](w, stream)
		if s.Status == subscription.StatusActive && !s.NextChargeAt.IsZero() && !s.NextChargeAt.After(w.now) {
			w.chargeDue(id)
			s = stateOf[subscription.State](w, stream)
		}
		if !s.EndsAt.IsZero() && !s.EndsAt.After(w.now) && s.Status != subscription.StatusCanceled {
			run(w, subscription.Aggregate, stream, subscription.CompleteCancellation{SubscriptionID: id, At: w.now})
			s = stateOf[subscription.State](w, stream)
		}
		if s.Status == subscription.StatusActive || s.Status == subscription.StatusCanceling {
			for _, p := range s.Products {
				if !p.NextShipmentOn.After(today) {
					run(w, subscription.Aggregate, stream, subscription.RecordShipmentDue{
						SubscriptionID: id, ProductID: p.ProductID, DueOn: p.NextShipmentOn,
						OrderID: domain.OrderID(w.id("ord_")), Today: today,
					})
				}
			}
		}
	}
	for _, id := range w.invoices {
		inv := stateOf[invoice.State](w, invoice.Stream(id))
		if inv.RetryPending && inv.NextRetryAt != nil && !inv.NextRetryAt.After(w.now) {
			w.attempt(id)
		}
	}
	var keep []domain.EmailID
	for _, id := range w.emails {
		m := stateOf[email.State](w, email.Stream(id))
		if !m.Sendable() {
			continue
		}
		if m.PlannedAt.After(w.now) {
			keep = append(keep, id)
			continue
		}
		if w.rng.IntN(12) == 0 {
			run(w, email.Aggregate, email.Stream(id), email.MarkFailed{EmailID: id, Reason: "421 try again later", Permanent: w.rng.IntN(3) == 0, At: w.now})
			keep = append(keep, id)
			continue
		}
		run(w, email.Aggregate, email.Stream(id), email.MarkSent{EmailID: id, MessageID: "<" + string(id) + "@subsd>", At: w.now})
	}
	w.emails = keep
}

func (w *world) editCustomer() {
	id, ok := w.pickCustomer()
	if !ok {
		return
	}
	cmd := customer.ChangeDetails{CustomerID: id, At: w.now}
	switch w.rng.IntN(5) {
	case 0:
		n := firstNames[w.rng.IntN(len(firstNames))]
		cmd.FirstName = &n
	case 1:
		a := w.address()
		cmd.Address = &a
	case 2:
		e := domain.Email(fmt.Sprintf("new.%d@Example.org", w.seq))
		cmd.Email = &e
	case 3:
		a := w.address()
		cmd.ShippingAddress = &a
	case 4:
		cmd.RemoveShippingAddress = true
		p := domain.Phone("")
		cmd.Phone = &p
	}
	run(w, customer.Aggregate, customer.Stream(id), cmd)
}

// erase erases a customer's personal data, rarely: a customer is picked
// and erased one time in ten.
func (w *world) erase() {
	if id, ok := w.pickCustomer(); ok && w.rng.IntN(10) == 0 {
		run(w, customer.Aggregate, customer.Stream(id), customer.ErasePersonalData{CustomerID: id, Actor: "admin:test", At: w.now})
	}
}

func (w *world) returnLabel() {
	if id, ok := w.pickCustomer(); ok {
		run(w, customer.Aggregate, customer.Stream(id), customer.RequestReturnLabel{CustomerID: id, LabelID: w.id("label-"), At: w.now})
	}
}

func (w *world) linkStripe() {
	if id, ok := w.pickCustomer(); ok {
		run(w, customer.Aggregate, customer.Stream(id), customer.LinkStripeCustomer{CustomerID: id, StripeCustomerID: "cus_S" + string(id)[4:], At: w.now})
	}
}

func (w *world) pauseOrResume() {
	s, ok := w.pickSub()
	if !ok {
		return
	}
	if s.Status == subscription.StatusPaused {
		run(w, subscription.Aggregate, subscription.Stream(s.ID), subscription.Resume{SubscriptionID: s.ID, At: w.now, Location: w.loc})
		return
	}
	run(w, subscription.Aggregate, subscription.Stream(s.ID), subscription.Pause{SubscriptionID: s.ID, At: w.now})
}

func (w *world) cancelSubscription() {
	if s, ok := w.pickSub(); ok {
		run(w, subscription.Aggregate, subscription.Stream(s.ID), subscription.Cancel{
			SubscriptionID: s.ID, AtPeriodEnd: w.rng.IntN(3) > 0, Reason: "too much coffee", At: w.now, Location: w.loc,
		})
	}
}

func (w *world) productChange() {
	s, ok := w.pickSub()
	if !ok {
		return
	}
	stream := subscription.Stream(s.ID)
	if len(s.Products) == 0 || w.rng.IntN(5) == 0 {
		p := products[w.rng.IntN(len(products))]
		np := subscription.NewProduct{ProductID: domain.ProductID(p.id), Name: p.name, Quantity: 1,
			Interval: domain.Interval{Unit: domain.Month, Count: 1}, FirstShipmentOn: w.today().AddDays(w.rng.IntN(5))}
		if p.price > 0 {
			m := domain.Cents(p.price)
			np.Price = &m
		}
		run(w, subscription.Aggregate, stream, subscription.AddProduct{SubscriptionID: s.ID, Product: np, Today: w.today()})
		return
	}
	p := s.Products[w.rng.IntN(len(s.Products))]
	switch w.rng.IntN(6) {
	case 0:
		run(w, subscription.Aggregate, stream, subscription.RemoveProduct{SubscriptionID: s.ID, ProductID: p.ProductID})
	case 1:
		run(w, subscription.Aggregate, stream, subscription.ChangeProductInterval{SubscriptionID: s.ID, ProductID: p.ProductID,
			Interval: domain.Interval{Unit: domain.Week, Count: 1 + w.rng.IntN(6)}})
	case 2:
		run(w, subscription.Aggregate, stream, subscription.SetNextShipment{SubscriptionID: s.ID, ProductID: p.ProductID,
			On: w.today().AddDays(w.rng.IntN(20)), Today: w.today()})
	case 3:
		run(w, subscription.Aggregate, stream, subscription.SkipShipment{SubscriptionID: s.ID, ProductID: p.ProductID})
	default:
		run(w, subscription.Aggregate, stream, subscription.ShipNow{SubscriptionID: s.ID, ProductID: p.ProductID,
			OrderID: domain.OrderID(w.id("ord_")), Today: w.today()})
	}
}

func (w *world) oneOffOrder() {
	cid, ok := w.pickCustomer()
	if !ok {
		return
	}
	c := stateOf[customer.State](w, customer.Stream(cid))
	var lines []domain.Line
	for _, p := range products {
		if w.rng.IntN(2) == 0 {
			price := p.price
			if price == 0 {
				price = 1999
			}
			lines = append(lines, domain.Line{ProductID: domain.ProductID(p.id), Name: p.name, Quantity: 1 + w.rng.IntN(3), UnitPrice: domain.Cents(price)})
		}
	}
	if len(lines) == 0 {
		lines = []domain.Line{{Name: "Gift card", Quantity: 1, UnitPrice: domain.Cents(2500)}}
	}
	var discount domain.Money
	if w.rng.IntN(4) == 0 {
		discount = domain.Cents(333)
	}
	method := order.Delivery
	if w.rng.IntN(3) == 0 {
		method = order.Pickup
	}
	w.createOrder(domain.OrderID(w.id("ord_")), cid, c, "", w.today(), method, lines, discount)
}

func (w *world) pickOrder() (order.State, bool) {
	if len(w.orders) == 0 {
		return order.State{}, false
	}
	id := w.orders[w.rng.IntN(len(w.orders))]
	return stateOf[order.State](w, order.Stream(id)), true
}

func (w *world) tracking() {
	o, ok := w.pickOrder()
	if !ok || o.DeliveryMethod != order.Delivery {
		return
	}
	code := fmt.Sprintf("3SABC%07d", w.rng.IntN(10_000_000))
	run(w, order.Aggregate, order.Stream(o.ID), order.AddTracking{
		TrackingCode: code, TrackingURL: "https://postnl.example/track/" + code, Carrier: []string{"PostNL", "DHL", ""}[w.rng.IntN(3)],
		TrackAndTraceEnabled: w.settings.Email().TrackAndTraceEnabled, At: w.now,
	})
}

func (w *world) pickup() {
	if o, ok := w.pickOrder(); ok && o.DeliveryMethod == order.Pickup {
		run(w, order.Aggregate, order.Stream(o.ID), order.ConfirmPickup{At: w.now})
	}
}

func (w *world) cancelOrder() {
	if o, ok := w.pickOrder(); ok {
		run(w, order.Aggregate, order.Stream(o.ID), order.Cancel{Reason: "out of stock", At: w.now})
	}
}

func (w *world) pickInvoice() (invoice.State, bool) {
	if len(w.invoices) == 0 {
		return invoice.State{}, false
	}
	id := w.invoices[w.rng.IntN(len(w.invoices))]
	return stateOf[invoice.State](w, invoice.Stream(id)), true
}

func (w *world) refund() {
	inv, ok := w.pickInvoice()
	if !ok || inv.Status != invoice.StatusPaid {
		return
	}
	cmd := invoice.Refund{RefundID: w.id("re_"), At: w.now}
	if w.rng.IntN(2) == 0 {
		m := domain.Cents(min(100, inv.Refundable().Amount()))
		cmd.Amount = &m
	}
	run(w, invoice.Aggregate, invoice.Stream(inv.ID), cmd)
}

func (w *world) void() {
	if inv, ok := w.pickInvoice(); ok && inv.Status == invoice.StatusFailed {
		run(w, invoice.Aggregate, invoice.Stream(inv.ID), invoice.Void{Reason: "written off", At: w.now})
	}
}

// resolvePending gives an attempt still processing (a SEPA debit) its
// outcome.
func (w *world) resolvePending() {
	for _, id := range w.invoices {
		inv := stateOf[invoice.State](w, invoice.Stream(id))
		if n := len(inv.Attempts); n > 0 && inv.Attempts[n-1].Status == invoice.AttemptStatusProcessing {
			a := inv.Attempts[n-1]
			if w.rng.IntN(3) > 0 {
				w.succeed(id, a.PaymentID, a.PaymentIntentID)
			} else {
				w.fail(id, a.PaymentID, a.PaymentIntentID)
			}
			return
		}
	}
}

func (w *world) manualRetry() {
	if inv, ok := w.pickInvoice(); ok && inv.Status == invoice.StatusFailed {
		w.attempt(inv.ID)
	}
}

func (w *world) changeSettings() {
	if w.settingsFrozen {
		return
	}
	cur := w.settings.Email()
	if w.rng.IntN(3) == 0 {
		days := slices.Clone(w.settings.Dunning().RetryDays)
		fa := []settings.FinalAction{settings.CancelAtPeriodEnd, settings.CancelNow, settings.KeepPastDue}[w.rng.IntN(3)]
		if w.rng.IntN(2) == 0 {
			days = []int{1, 2}
		}
		run(w, settings.Aggregate, settings.Stream(), settings.ChangeDunning{RetryDays: days, FinalAction: fa, At: w.now})
		return
	}
	run(w, settings.Aggregate, settings.Stream(), settings.ChangeEmailSettings{
		TrackAndTraceEnabled: !cur.TrackAndTraceEnabled, ChargeReminderDaysBefore: w.rng.IntN(5),
		FromName: "Koffie & Co", FromAddress: "hello@koffie.example", At: w.now,
	})
}
