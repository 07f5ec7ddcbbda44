package email_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/email"
)

const eid = domain.EmailID("eml_1")

var (
	t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Hour)
	t2 = t1.Add(time.Hour)
)

func planCmd() email.Plan {
	return email.Plan{
		EmailID: eid, CustomerID: "cus_ann", Type: email.OrderConfirmation, Recipient: "ann@Example.com",
		Subject: " Your order ORD-000123 ", Reason: email.Reason{EventID: "evt_1", EventType: "order.created", Reference: "ord_1"},
		PlannedAt: t0.In(time.FixedZone("CET", 3600)),
		Data:      email.Data{FirstName: "Ann", OrderID: "ord_1", OrderNumber: "ORD-000123", Amount: ptr(domain.Cents(1999))},
	}
}

func planned() email.Planned {
	return email.Planned{
		EmailID: eid, CustomerID: "cus_ann", Type: email.OrderConfirmation, Recipient: "ann@example.com",
		Subject: "Your order ORD-000123", Reason: email.Reason{EventID: "evt_1", EventType: "order.created", Reference: "ord_1"},
		PlannedAt: t0,
		Data:      email.Data{FirstName: "Ann", OrderID: "ord_1", OrderNumber: "ORD-000123", Amount: ptr(domain.Cents(1999))},
	}
}

func ptr[T any](v T) *T { return &v }

var (
	sent      = email.Sent{EmailID: eid, MessageID: "<m1@subsd>", SentAt: t1}
	transient = email.Failed{EmailID: eid, Reason: "421 try later", FailedAt: t1}
	permanent = email.Failed{EmailID: eid, Reason: "550 no such user", Permanent: true, FailedAt: t1}
	canceled  = email.Canceled{EmailID: eid, Reason: "charge no longer happens", CanceledAt: t1}
)

type spec struct {
	name  string
	given []email.Event
	when  email.Command
	then  []email.Event
	err   error
	field string
}

func run(t *testing.T, specs []spec) {
	t.Helper()
	for _, sp := range specs {
		t.Run(sp.name, func(t *testing.T) {
			t.Parallel()
			got, err := email.Decide(email.Fold(sp.given...), sp.when)
			if sp.err != nil {
				require.ErrorIs(t, err, sp.err)
				require.Nil(t, got)
				if sp.field != "" {
					var de *domain.Error
					require.ErrorAs(t, err, &de)
					require.Equal(t, sp.field, de.Field, "%v", err)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, sp.then, got)
			for _, e := range got {
				name, data, err := email.Codec.Encode(e)
				require.NoError(t, err)
				back, err := email.Codec.Decode(name, data)
				require.NoError(t, err)
				require.Equal(t, e, back)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	t.Parallel()
	with := func(f func(*email.Plan)) email.Plan { c := planCmd(); f(&c); return c }
	run(t, []spec{
		{name: "planned, normalised", when: planCmd(), then: []email.Event{planned()}},
		{name: "the same plan again is a no-op", given: []email.Event{planned()}, when: planCmd()},
		{name: "the same plan after sending is a no-op", given: []email.Event{planned(), sent}, when: planCmd()},
		{name: "another email under a taken id", given: []email.Event{planned()}, when: with(func(c *email.Plan) { c.Type = email.PaymentReceipt }), err: email.ErrEmailIDTaken},
		{name: "another cause for a live email is a no-op: one email per id", given: []email.Event{planned()}, when: with(func(c *email.Plan) { c.Reason.EventID = "evt_2" })},
		{name: "a canceled email, planned again by the same cause, stays canceled", given: []email.Event{planned(), canceled}, when: planCmd()},
		{
			name: "a canceled email planned again by another cause is planned anew", given: []email.Event{planned(), canceled},
			when: with(func(c *email.Plan) { c.Reason.EventID = "evt_2"; c.PlannedAt = t2 }),
			then: []email.Event{func() email.Planned { e := planned(); e.Reason.EventID = "evt_2"; e.PlannedAt = t2; return e }()},
		},
		{name: "a canceled email cannot come back as another type", given: []email.Event{planned(), canceled}, when: with(func(c *email.Plan) { c.Type = email.ChargeReminder; c.Reason.EventID = "evt_2" }), err: email.ErrEmailIDTaken},
		{name: "another customer under a taken id", given: []email.Event{planned()}, when: with(func(c *email.Plan) { c.CustomerID = "cus_bob" }), err: email.ErrEmailIDTaken},
		{name: "bad id", when: with(func(c *email.Plan) { c.EmailID = "1" }), err: domain.ErrInvalid, field: "email_id"},
		{name: "bad customer", when: with(func(c *email.Plan) { c.CustomerID = "" }), err: domain.ErrInvalid, field: "customer_id"},
		{name: "unknown type", when: with(func(c *email.Plan) { c.Type = "newsletter" }), err: domain.ErrInvalid, field: "type"},
		{name: "bad recipient", when: with(func(c *email.Plan) { c.Recipient = "ann" }), err: domain.ErrInvalid, field: "recipient"},
		{name: "no recipient (erased customer)", when: with(func(c *email.Plan) { c.Recipient = "" }), err: domain.ErrInvalid, field: "recipient"},
		{name: "no subject", when: with(func(c *email.Plan) { c.Subject = " " }), err: domain.ErrInvalid, field: "subject"},
		{name: "header injection in the subject", when: with(func(c *email.Plan) { c.Subject = "Hi\r\nBcc: x@y.z" }), err: domain.ErrInvalid, field: "subject"},
		{name: "long subject", when: with(func(c *email.Plan) { c.Subject = strings.Repeat("s", 201) }), err: domain.ErrInvalid, field: "subject"},
		{name: "no cause", when: with(func(c *email.Plan) { c.Reason.EventID = "" }), err: domain.ErrInvalid, field: "reason.event_id"},
		{name: "no planned time", when: with(func(c *email.Plan) { c.PlannedAt = time.Time{} }), err: domain.ErrInvalid, field: "planned_at"},
	})
}

func TestMarkSent(t *testing.T) {
	t.Parallel()
	cmd := email.MarkSent{EmailID: eid, MessageID: " <m1@subsd> ", At: t1}
	run(t, []spec{
		{name: "sent", given: []email.Event{planned()}, when: cmd, then: []email.Event{sent}},
		{name: "a sent email is never sent twice", given: []email.Event{planned(), sent}, when: email.MarkSent{EmailID: eid, MessageID: "<m2@subsd>", At: t2}},
		{name: "a retry after a transient failure", given: []email.Event{planned(), transient}, when: cmd, then: []email.Event{sent}},
		{name: "not after a permanent failure", given: []email.Event{planned(), permanent}, when: cmd, err: email.ErrEmailFailedPermanently},
		{name: "a canceled email that went out anyway is recorded", given: []email.Event{planned(), canceled}, when: cmd, then: []email.Event{sent}},
		{name: "unknown email", when: cmd, err: email.ErrEmailNotFound},
		{name: "another email's stream", given: []email.Event{planned()}, when: email.MarkSent{EmailID: "eml_2", MessageID: "x", At: t1}, err: email.ErrEmailNotFound},
		{name: "no message id", given: []email.Event{planned()}, when: email.MarkSent{EmailID: eid, At: t1}, err: domain.ErrInvalid, field: "message_id"},
		{name: "no time", given: []email.Event{planned()}, when: email.MarkSent{EmailID: eid, MessageID: "x"}, err: domain.ErrInvalid, field: "at"},
	})
}

func TestMarkFailed(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("é", 600)
	run(t, []spec{
		{name: "transient", given: []email.Event{planned()}, when: email.MarkFailed{EmailID: eid, Reason: " 421 try later ", At: t1}, then: []email.Event{transient}},
		{name: "permanent", given: []email.Event{planned()}, when: email.MarkFailed{EmailID: eid, Reason: "550 no such user", Permanent: true, At: t1}, then: []email.Event{permanent}},
		{
			name: "again after a transient failure", given: []email.Event{planned(), transient},
			when: email.MarkFailed{EmailID: eid, Reason: "550 no such user", Permanent: true, At: t1}, then: []email.Event{permanent},
		},
		{
			name: "a long reason is cut, not refused", given: []email.Event{planned()},
			when: email.MarkFailed{EmailID: eid, Reason: long + "\xff", At: t1},
			then: []email.Event{email.Failed{EmailID: eid, Reason: strings.Repeat("é", 500), FailedAt: t1}},
		},
		{name: "after a permanent failure nothing changes", given: []email.Event{planned(), permanent}, when: email.MarkFailed{EmailID: eid, Reason: "x", At: t2}},
		{name: "a canceled email has nothing left to fail", given: []email.Event{planned(), canceled}, when: email.MarkFailed{EmailID: eid, Reason: "x", At: t2}},
		{name: "a sent email cannot fail", given: []email.Event{planned(), sent}, when: email.MarkFailed{EmailID: eid, Reason: "x", At: t2}, err: email.ErrEmailAlreadySent},
		{name: "unknown email", when: email.MarkFailed{EmailID: eid, At: t1}, err: email.ErrEmailNotFound},
		{name: "no time", given: []email.Event{planned()}, when: email.MarkFailed{EmailID: eid, Reason: "x"}, err: domain.ErrInvalid, field: "at"},
	})
}

func TestCancel(t *testing.T) {
	t.Parallel()
	cmd := email.Cancel{EmailID: eid, Reason: "charge no longer happens", At: t1}
	run(t, []spec{
		{name: "a planned email", given: []email.Event{planned()}, when: cmd, then: []email.Event{canceled}},
		{name: "after a transient failure", given: []email.Event{planned(), transient}, when: cmd, then: []email.Event{canceled}},
		{name: "twice is a no-op", given: []email.Event{planned(), canceled}, when: cmd},
		{name: "a permanently failed email stays failed", given: []email.Event{planned(), permanent}, when: cmd},
		{name: "a sent email is too late to withdraw", given: []email.Event{planned(), sent}, when: cmd},
		{name: "an email never planned has nothing to withdraw", when: cmd},
		{name: "another email's stream", given: []email.Event{planned()}, when: email.Cancel{EmailID: "eml_2", At: t1}, err: email.ErrEmailNotFound},
		{name: "no time", given: []email.Event{planned()}, when: email.Cancel{EmailID: eid}, err: domain.ErrInvalid, field: "at"},
	})
}

func TestState(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		events    []email.Event
		status    email.Status
		sendable  bool
		failures  int
		permanent bool
	}{
		{"planned", []email.Event{planned()}, email.StatusPlanned, true, 0, false},
		{"sent", []email.Event{planned(), sent}, email.StatusSent, false, 0, false},
		{"failed, to be retried", []email.Event{planned(), transient}, email.StatusFailed, true, 1, false},
		{"sent on retry", []email.Event{planned(), transient, sent}, email.StatusSent, false, 1, false},
		{"failed for good", []email.Event{planned(), transient, permanent}, email.StatusFailed, false, 2, true},
		{"canceled", []email.Event{planned(), canceled}, email.StatusCanceled, false, 0, false},
		{"planned again after a cancel", []email.Event{planned(), canceled, planned()}, email.StatusPlanned, true, 0, false},
	}
	for _, tt := range tests {
		s := email.Fold(tt.events...)
		require.True(t, s.Exists())
		require.Equal(t, tt.status, s.Status, tt.name)
		require.Equal(t, tt.sendable, s.Sendable(), tt.name)
		require.Equal(t, tt.failures, s.Failures, tt.name)
		require.Equal(t, tt.permanent, s.Permanent, tt.name)
		require.Equal(t, tt.events[0].(email.Planned).Data, s.Data)
	}
	require.True(t, email.Fold(planned(), canceled, planned()).CanceledAt.IsZero())
	s := email.Fold(planned(), transient, sent)
	require.Equal(t, "<m1@subsd>", s.MessageID)
	require.Equal(t, t1, s.SentAt)
	require.Equal(t, "421 try later", s.LastFailure)
	require.False(t, email.Fold().Exists())
	require.False(t, email.Fold().Sendable())
}

func TestWire(t *testing.T) {
	t.Parallel()
	name, data, err := email.Codec.Encode(planned())
	require.NoError(t, err)
	require.Equal(t, "email.planned", name)
	require.JSONEq(t, `{"email_id":"eml_1","customer_id":"cus_ann","type":"order_confirmation","recipient":"ann@example.com",
		"subject":"Your order ORD-000123","reason":{"event_id":"evt_1","event_type":"order.created","reference":"ord_1"},
		"planned_at":"2026-03-01T09:00:00Z",
		"data":{"first_name":"Ann","order_id":"ord_1","order_number":"ORD-000123","amount":{"amount":1999,"currency":"EUR"}}}`, string(data))
	for _, tt := range []struct {
		e    email.Event
		name string
	}{{sent, "email.sent"}, {transient, "email.failed"}, {canceled, "email.canceled"}} {
		require.Equal(t, tt.name, tt.e.EventType())
		require.True(t, email.Codec.Knows(tt.name))
	}
	require.Equal(t, "email-eml_1", email.Stream(eid))

	_, err = email.Decide(email.State{}, nil)
	require.ErrorIs(t, err, domain.ErrInvalid)
}

func TestTypes(t *testing.T) {
	t.Parallel()
	want := []string{
		"subscription_confirmation", "order_confirmation", "shipping_confirmation", "track_and_trace", "pickup_confirmation",
		"charge_reminder", "payment_receipt", "payment_failed", "refund_issued", "cancellation_confirmation", "return_label",
	}
	var got []string
	for _, ty := range email.Types() {
		got = append(got, string(ty))
		parsed, err := email.ParseType(string(ty))
		require.NoError(t, err)
		require.Equal(t, ty, parsed)
	}
	require.Equal(t, want, got)
	_, err := email.ParseType("Order_Confirmation")
	require.ErrorIs(t, err, domain.ErrInvalid)
}

func TestIDs(t *testing.T) {
	t.Parallel()
	a := email.IDFor("evt_1", email.OrderConfirmation)
	_, err := domain.ParseEmailID(string(a))
	require.NoError(t, err, "a derived id is a valid email id")
	require.Len(t, string(a), len("eml_")+32)
	require.Equal(t, a, email.IDFor("evt_1", email.OrderConfirmation), "deterministic")
	require.NotEqual(t, a, email.IDFor("evt_1", email.PaymentReceipt), "one id per type")
	require.NotEqual(t, a, email.IDFor("evt_2", email.OrderConfirmation), "one id per cause")
	require.NotEqual(t, email.IDFor("evt_1o", "rder_confirmation"), a, "parts cannot run into each other")

	at := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	r := email.ChargeReminderID("sub_1", at)
	require.Equal(t, r, email.ChargeReminderID("sub_1", at.In(time.FixedZone("CEST", 7200))), "the same instant in any zone")
	require.NotEqual(t, r, email.ChargeReminderID("sub_1", at.Add(time.Second)))
	require.NotEqual(t, r, email.ChargeReminderID("sub_2", at))
	// Pinned: changing the derivation would plan every email of a replayed
	// history a second time, under a new id.
	require.Equal(t, domain.EmailID("eml_177433d669612ab90a128c0cdf179145"), a)
	require.Equal(t, domain.EmailID("eml_ebe153031011cbd1d62af750d883a06e"), r)
}
