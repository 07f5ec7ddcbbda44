package workers_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/command"
	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/email"
	"github.com/subsd/subsd/domain/order"
	"github.com/subsd/subsd/domain/settings"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/postgres"
	"github.com/subsd/subsd/eventstore/postgres/pgtest"
	"github.com/subsd/subsd/workers"
	"github.com/subsd/subsd/workers/mail"
	"github.com/subsd/subsd/workers/mail/mailtest"
	"github.com/subsd/subsd/workers/pdf"
)

// mailBundle is a send_email worker over a real event store, a real
// delivery ledger and a real SMTP server (mailtest).
type mailBundle struct {
	pool     *pgxpool.Pool
	store    eventstore.Store
	commands *command.Service
	server   *mailtest.Server
	emails   *workers.Emails
	worker   *workers.SendEmailWorker
	now      time.Time
	md       eventstore.Metadata
	jobs     int64
}

func setupMail(t *testing.T, opts ...mail.Option) *mailBundle {
	t.Helper()
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	require.NoError(t, postgres.Migrate(ctx, pool))
	require.NoError(t, command.Migrate(ctx, pool))
	require.NoError(t, mail.Migrate(ctx, pool))
	loc, err := time.LoadLocation("Europe/Amsterdam")
	require.NoError(t, err)
	b := &mailBundle{
		pool:   pool,
		store:  postgres.New(pool),
		server: mailtest.NewServer(t),
		now:    time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC),
		md:     eventstore.Metadata{Actor: "admin:test"},
	}
	clock := func() time.Time { return b.now }
	b.commands = command.New(command.Deps{Store: b.store, Pool: pool, Clock: clock, Location: loc})
	mailer, err := mail.NewMailer(pool, b.server.URL, append([]mail.Option{mail.WithTimeout(5 * time.Second)}, opts...)...)
	require.NoError(t, err)
	templates, err := mail.NewTemplates(loc)
	require.NoError(t, err)
	docs, err := pdf.New(pdf.Business{
		Name:    "Vivlab B.V.",
		Address: domain.Address{Street: "Keizersgracht 1", Zipcode: "1015 AA", City: "Amsterdam", Country: "NL"},
	}, loc)
	require.NoError(t, err)
	b.emails = &workers.Emails{Store: b.store, Mailer: mailer, Templates: templates, Documents: docs, Clock: clock,
		Logger: slog.New(slog.DiscardHandler)}
	b.worker = &workers.SendEmailWorker{Emails: b.emails}
	_, err = b.commands.PutEmailSettings(ctx, b.md, settings.ChangeEmailSettings{
		ChargeReminderDaysBefore: 3, FromName: "Vivlab", FromAddress: "hello@vivlab.example",
	}, nil)
	require.NoError(t, err)
	return b
}

// work runs the worker as River would run attempt attempt of a job.
func (b *mailBundle) work(id domain.EmailID, attempt int) error {
	b.jobs++
	return b.worker.Work(context.Background(), &river.Job[workers.SendEmailArgs]{
		JobRow: &rivertype.JobRow{ID: b.jobs, Attempt: attempt, Kind: workers.KindSendEmail},
		Args:   workers.SendEmailArgs{EmailID: id},
	})
}

func (b *mailBundle) customer(t *testing.T) customer.State {
	t.Helper()
	res, err := b.commands.CreateCustomer(context.Background(), b.md, customer.Register{
		FirstName: "Zoë", LastName: "Kowalska", Email: "zoe@example.com",
		Address:         domain.Address{Street: "Rue de la Loi 16", Zipcode: "1000", City: "Bruxelles", Country: "BE"},
		ShippingAddress: &domain.Address{Street: "Łąkowa 7", Zipcode: "90-562", City: "Łódź", Country: "PL"},
	})
	require.NoError(t, err)
	return res.Customer
}

// plan plans an email as the email reactor would.
func (b *mailBundle) plan(t *testing.T, cust customer.State, typ email.Type, subject string, at time.Time, data email.Data) email.State {
	t.Helper()
	data.FirstName = cust.FirstName
	id := email.IDFor("evt-"+subject, typ)
	res, err := eventstore.Execute(context.Background(), b.store, email.Aggregate, email.Stream(id), email.Command(email.Plan{
		EmailID: id, CustomerID: cust.ID, Type: typ, Recipient: cust.Email, Subject: subject,
		Reason: email.Reason{EventID: "evt-" + subject, EventType: "test"}, PlannedAt: at, Data: data,
	}), eventstore.ExecuteOptions{})
	require.NoError(t, err)
	return res.State
}

func (b *mailBundle) email(t *testing.T, id domain.EmailID) email.State {
	t.Helper()
	st, _, err := eventstore.Load(context.Background(), b.store, email.Aggregate, email.Stream(id))
	require.NoError(t, err)
	return st
}

func isJobCancel(err error) bool {
	var c *river.JobCancelError
	return errors.As(err, &c)
}

func jobSnoozed(err error) (time.Duration, bool) {
	var s *river.JobSnoozeError
	if errors.As(err, &s) {
		return s.Duration, true
	}
	return 0, false
}

// TestSendEmailReturnLabel: a planned return_label email goes out once,
// with its subject, recipient, a Message-ID derived from the email id, both
// bodies and the label PDF attached; email.sent records that Message-ID.
func TestSendEmailReturnLabel(t *testing.T) {
	t.Parallel()
	b := setupMail(t)
	ctx := context.Background()
	cust := b.customer(t)
	res, err := b.commands.RequestReturnLabel(ctx, b.md, cust.ID, nil)
	require.NoError(t, err)
	label, ok := res.Customer.LastReturnLabel()
	require.True(t, ok)
	st := b.plan(t, cust, email.ReturnLabel, "Your return label", b.now, email.Data{LabelID: label.LabelID})

	require.NoError(t, b.work(st.ID, 1))
	got := b.server.Messages(t)
	require.Len(t, got, 1)
	m := got[0]
	require.Equal(t, []string{"zoe@example.com"}, m.To)
	require.Equal(t, "hello@vivlab.example", m.From)
	require.Equal(t, `"Vivlab" <hello@vivlab.example>`, m.Header.Get("From"))
	require.Equal(t, "Your return label", m.Subject)
	require.Equal(t, string(st.ID)+"@vivlab.example", m.MessageID)
	for _, body := range []string{m.Text, m.HTML} {
		require.Contains(t, body, "Hi Zoë,")
		require.Contains(t, body, label.LabelID)
		require.Contains(t, body, "attached")
	}
	require.Contains(t, m.HTML, "<ol>")
	require.Len(t, m.Attachments, 1)
	a := m.Attachments[0]
	require.Equal(t, "return-label-"+label.LabelID+".pdf", a.Name)
	require.Equal(t, "application/pdf", a.ContentType)
	require.True(t, bytes.HasPrefix(a.Data, []byte("%PDF-")))

	sent := b.email(t, st.ID)
	require.Equal(t, email.StatusSent, sent.Status)
	require.Equal(t, "<"+m.MessageID+">", sent.MessageID)
	require.Equal(t, b.now, sent.SentAt)

	// A second job for the same email sends nothing.
	require.NoError(t, b.work(st.ID, 1))
	require.Len(t, b.server.Messages(t), 1)
}

// TestSendEmailPaymentReceipt: the receipt carries the invoice PDF.
func TestSendEmailPaymentReceipt(t *testing.T) {
	t.Parallel()
	b := setupMail(t)
	cust := b.customer(t)
	o, err := b.commands.CreateOrder(context.Background(), b.md, command.NewOrder{
		CustomerID: cust.ID, DeliveryMethod: order.Delivery, ShippingAddress: &cust.Address,
		Items: []domain.Line{{ProductID: "beans", Name: "Coffee beans", Quantity: 2, UnitPrice: domain.Cents(1210)}},
	})
	require.NoError(t, err)
	require.NotNil(t, o.Invoice)
	inv := o.Invoice.Invoice
	st := b.plan(t, cust, email.PaymentReceipt, "Payment received for invoice "+string(inv.Number), b.now,
		email.Data{InvoiceID: inv.ID, InvoiceNumber: string(inv.Number), Amount: &inv.Amount})

	require.NoError(t, b.work(st.ID, 1))
	m := b.server.Wait(t, 1, 5*time.Second)[0]
	require.Contains(t, m.Text, string(inv.Number))
	require.Contains(t, m.Text, "€24.20")
	require.Contains(t, m.Text, "attached")
	require.Len(t, m.Attachments, 1)
	require.Equal(t, string(inv.Number)+".pdf", m.Attachments[0].Name)
	require.True(t, bytes.HasPrefix(m.Attachments[0].Data, []byte("%PDF-")))
}

// TestSendEmailCrashBeforeMarkSent: the worker dies after the server
// accepted the email and before email.sent is recorded; the retry records
// email.sent from the delivery ledger and does not send again.
func TestSendEmailCrashBeforeMarkSent(t *testing.T) {
	t.Parallel()
	b := setupMail(t)
	crash := errors.New("killed after the 250")
	b.emails.AfterDeliverFunc = func(context.Context, domain.EmailID) error { return crash }
	cust := b.customer(t)
	st := b.plan(t, cust, email.OrderConfirmation, "Your order ORD-000001 is confirmed", b.now, email.Data{OrderNumber: "ORD-000001"})

	require.ErrorIs(t, b.work(st.ID, 1), crash)
	require.Len(t, b.server.Messages(t), 1)
	require.Equal(t, email.StatusPlanned, b.email(t, st.ID).Status)

	b.emails.AfterDeliverFunc = nil
	b.now = b.now.Add(time.Minute)
	require.NoError(t, b.work(st.ID, 2))
	msgs := b.server.Messages(t)
	require.Len(t, msgs, 1, "never sent twice")
	sent := b.email(t, st.ID)
	require.Equal(t, email.StatusSent, sent.Status)
	require.Equal(t, "<"+msgs[0].MessageID+">", sent.MessageID)
	require.Equal(t, b.now.Add(-time.Minute), sent.SentAt, "sent when the server accepted it")
}

// TestSendEmailCrashBeforeLedger: the worker dies between the server's 250
// and its record in the ledger. The retry cannot know whether the server
// has the message, so it does not send it again and records the email as
// failed for good, saying why; the server holds one message.
func TestSendEmailCrashBeforeLedger(t *testing.T) {
	t.Parallel()
	crash := errors.New("killed before the ledger")
	crashing := true
	b := setupMail(t, mail.WithLease(time.Second), mail.WithAcceptedFunc(func(context.Context) error {
		if crashing {
			return crash
		}
		return nil
	}))
	cust := b.customer(t)
	st := b.plan(t, cust, email.OrderConfirmation, "Your order ORD-000002 is confirmed", b.now, email.Data{OrderNumber: "ORD-000002"})

	err := b.work(st.ID, 1)
	require.ErrorIs(t, err, crash)
	require.False(t, isJobCancel(err))
	require.Len(t, b.server.Messages(t), 1)
	crashing = false

	// While the hand-over is fresh, another run may still be waiting for
	// the answer: wait.
	d, ok := jobSnoozed(b.work(st.ID, 2))
	require.True(t, ok)
	require.Equal(t, time.Second, d)

	time.Sleep(1100 * time.Millisecond)
	err = b.work(st.ID, 2)
	require.True(t, isJobCancel(err), "%v", err)
	require.Len(t, b.server.Messages(t), 1, "never sent twice")
	failed := b.email(t, st.ID)
	require.Equal(t, email.StatusFailed, failed.Status)
	require.True(t, failed.Permanent)
	require.Contains(t, failed.LastFailure, "not sent again")

	// And no later job sends it.
	require.NoError(t, b.work(st.ID, 3))
	require.Len(t, b.server.Messages(t), 1)
}

// TestSendEmailRefused: a 5xx fails the email for good (JobCancel); a 4xx
// records a transient failure and River's retry sends it.
func TestSendEmailRefused(t *testing.T) {
	t.Parallel()
	b := setupMail(t)
	cust := b.customer(t)

	b.server.RejectRecipients(func(string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "mailbox unavailable"}
	})
	gone := b.plan(t, cust, email.OrderConfirmation, "Your order ORD-000003 is confirmed", b.now, email.Data{OrderNumber: "ORD-000003"})
	err := b.work(gone.ID, 1)
	require.True(t, isJobCancel(err), "%v", err)
	st := b.email(t, gone.ID)
	require.Equal(t, email.StatusFailed, st.Status)
	require.True(t, st.Permanent)
	require.Contains(t, st.LastFailure, "550")
	b.server.RejectRecipients(nil)
	require.NoError(t, b.work(gone.ID, 2), "failed for good: nothing to do")
	require.Empty(t, b.server.Messages(t))

	b.server.RejectMessages(func([]byte) error {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "greylisted"}
	})
	later := b.plan(t, cust, email.OrderConfirmation, "Your order ORD-000004 is confirmed", b.now, email.Data{OrderNumber: "ORD-000004"})
	err = b.work(later.ID, 1)
	require.Error(t, err)
	require.False(t, isJobCancel(err))
	st = b.email(t, later.ID)
	require.Equal(t, email.StatusFailed, st.Status)
	require.False(t, st.Permanent)
	require.True(t, st.Sendable())
	require.Contains(t, st.LastFailure, "451")

	b.server.RejectMessages(nil)
	require.NoError(t, b.work(later.ID, 2))
	require.Equal(t, email.StatusSent, b.email(t, later.ID).Status)
	require.Len(t, b.server.Messages(t), 1)
}

// TestSendEmailTrackAndTrace: track & trace emails go out only while the
// setting is on; one planned while it was on and sent after it went off
// is canceled.
func TestSendEmailTrackAndTrace(t *testing.T) {
	t.Parallel()
	b := setupMail(t)
	ctx := context.Background()
	cust := b.customer(t)
	data := email.Data{OrderNumber: "ORD-000005", TrackingCode: "3SABC", TrackingURL: "https://track.example/3SABC", Carrier: "PostNL"}

	off := b.plan(t, cust, email.ShippingConfirmation, "Your order ORD-000005 is on its way", b.now, data)
	require.NoError(t, b.work(off.ID, 1))
	st := b.email(t, off.ID)
	require.Equal(t, email.StatusCanceled, st.Status)
	require.Empty(t, b.server.Messages(t))

	_, err := b.commands.PutEmailSettings(ctx, b.md, settings.ChangeEmailSettings{
		TrackAndTraceEnabled: true, ChargeReminderDaysBefore: 3, FromName: "Vivlab", FromAddress: "hello@vivlab.example",
	}, nil)
	require.NoError(t, err)
	on := b.plan(t, cust, email.TrackAndTrace, "Track and trace for your order ORD-000005", b.now, data)
	require.NoError(t, b.work(on.ID, 1))
	m := b.server.Wait(t, 1, 5*time.Second)[0]
	require.Contains(t, m.HTML, `href="https://track.example/3SABC"`)
	require.Contains(t, m.Text, "3SABC")
	require.Equal(t, email.StatusSent, b.email(t, on.ID).Status)
}

// TestSendEmailWhenNotToSend: an email not yet due waits; a canceled one,
// and one to an erased customer, are not sent; without a sender address
// the email waits for one.
func TestSendEmailWhenNotToSend(t *testing.T) {
	t.Parallel()
	b := setupMail(t)
	ctx := context.Background()
	cust := b.customer(t)

	future := b.plan(t, cust, email.ChargeReminder, "Your next payment is coming up", b.now.Add(90*time.Minute),
		email.Data{ChargeAt: b.now.Add(72 * time.Hour)})
	d, ok := jobSnoozed(b.work(future.ID, 1))
	require.True(t, ok)
	require.Equal(t, 90*time.Minute, d)

	_, err := eventstore.Execute(ctx, b.store, email.Aggregate, email.Stream(future.ID),
		email.Command(email.Cancel{EmailID: future.ID, Reason: "paused", At: b.now}), eventstore.ExecuteOptions{})
	require.NoError(t, err)
	b.now = b.now.Add(2 * time.Hour)
	require.NoError(t, b.work(future.ID, 1))
	require.Equal(t, email.StatusCanceled, b.email(t, future.ID).Status)

	require.True(t, isJobCancel(b.work("eml_nothing", 1)), "no such email")

	erased := b.plan(t, cust, email.OrderConfirmation, "Your order ORD-000006 is confirmed", b.now, email.Data{OrderNumber: "ORD-000006"})
	_, err = eventstore.Execute(ctx, b.store, customer.Aggregate, customer.Stream(cust.ID),
		customer.Command(customer.ErasePersonalData{CustomerID: cust.ID, Actor: "admin:test", At: b.now}), eventstore.ExecuteOptions{})
	require.NoError(t, err)
	require.NoError(t, b.work(erased.ID, 1))
	st := b.email(t, erased.ID)
	require.Equal(t, email.StatusCanceled, st.Status)
	require.Empty(t, b.server.Messages(t))
}

func TestSendEmailNeedsASender(t *testing.T) {
	t.Parallel()
	// Settings that were never set have no from_address.
	ctx := context.Background()
	pool := pgtest.NewPool(t)
	require.NoError(t, postgres.Migrate(ctx, pool))
	require.NoError(t, command.Migrate(ctx, pool))
	require.NoError(t, mail.Migrate(ctx, pool))
	store := postgres.New(pool)
	server := mailtest.NewServer(t)
	mailer, err := mail.NewMailer(pool, server.URL)
	require.NoError(t, err)
	templates, err := mail.NewTemplates(nil)
	require.NoError(t, err)
	commands := command.New(command.Deps{Store: store, Pool: pool})
	cus, err := commands.CreateCustomer(ctx, eventstore.Metadata{}, customer.Register{
		FirstName: "Ann", LastName: "de Vries", Email: "ann@example.com",
		Address: domain.Address{Street: "Keizersgracht 1", Zipcode: "1015 CJ", City: "Amsterdam", Country: "NL"},
	})
	require.NoError(t, err)
	id := email.IDFor("evt-1", email.OrderConfirmation)
	_, err = eventstore.Execute(ctx, store, email.Aggregate, email.Stream(id), email.Command(email.Plan{
		EmailID: id, CustomerID: cus.Customer.ID, Type: email.OrderConfirmation, Recipient: "ann@example.com",
		Subject: "Your order", Reason: email.Reason{EventID: "evt-1"}, PlannedAt: time.Now().Add(-time.Minute),
	}), eventstore.ExecuteOptions{})
	require.NoError(t, err)

	emails := &workers.Emails{Store: store, Mailer: mailer, Templates: templates}
	err = emails.Send(ctx, id, workers.SendRun{Attempt: 1})
	require.ErrorContains(t, err, "from_address")
	require.False(t, isJobCancel(err))
	require.Empty(t, server.Messages(t))

	emails.DefaultFromName, emails.DefaultFrom = "Vivlab", "noreply@vivlab.example"
	require.NoError(t, emails.Send(ctx, id, workers.SendRun{Attempt: 2}))
	m := server.Wait(t, 1, 5*time.Second)[0]
	require.Equal(t, "noreply@vivlab.example", m.From)
	require.True(t, strings.HasSuffix(m.MessageID, "@vivlab.example"))
}

// TestSendEmailThroughRiver: a send_email job inserted in a transaction
// (as the email reactor does) is worked by a River client running the
// worker, and the email goes out once and is marked sent.
func TestSendEmailThroughRiver(t *testing.T) {
	t.Parallel()
	b := setupMail(t)
	ctx := context.Background()
	require.NoError(t, workers.Migrate(ctx, b.pool))
	b.now = time.Now().UTC()
	cust := b.customer(t)
	st := b.plan(t, cust, email.SubscriptionConfirmation, "Your Coffee Club subscription is confirmed", b.now,
		email.Data{PlanName: "Coffee Club", Amount: centsPtr(2995), SubscriptionID: "sub_1"})

	ws := river.NewWorkers()
	river.AddWorker(ws, workers.NewSendEmailWorker(b.emails))
	client, err := workers.NewClient(b.pool, workers.ClientConfig{
		Workers: ws, DueWorkInterval: -1, Logger: slog.New(slog.DiscardHandler),
		FetchCooldown: 10 * time.Millisecond, FetchPollInterval: 50 * time.Millisecond,
	})
	require.NoError(t, err)
	require.NoError(t, client.Start(ctx))
	t.Cleanup(func() { _ = client.Stop(context.Background()) })

	tx, err := b.pool.Begin(ctx)
	require.NoError(t, err)
	_, err = client.InsertTx(ctx, tx, workers.SendEmailArgs{EmailID: st.ID}, nil)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx))

	m := b.server.Wait(t, 1, 15*time.Second)[0]
	require.Equal(t, "Your Coffee Club subscription is confirmed", m.Subject)
	require.Contains(t, m.Text, "€29.95")
	require.Eventually(t, func() bool { return b.email(t, st.ID).Status == email.StatusSent }, 15*time.Second, 20*time.Millisecond)
	require.Len(t, b.server.Messages(t), 1)
}

func centsPtr(cents int64) *domain.Money {
	m := domain.Cents(cents)
	return &m
}
