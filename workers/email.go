package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/email"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/settings"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/workers/mail"
	"github.com/subsd/subsd/workers/pdf"
)

// Emails sends the planned emails: the send_email worker runs Send. It is
// safe for concurrent use; its fields must not change once it is in use.
//
// An email is an aggregate (domain/email) planned by the email reactor
// before anything is sent; Send renders it, hands it to the mail relay
// through mail.Mailer (which delivers each email at most once, see
// workers/mail), and records the outcome on the email: email.sent with the
// Message-ID, or email.failed (permanent for a 5xx refusal and for a
// delivery whose outcome is unknown; transient otherwise, and retried).
type Emails struct {
	// Store is the event log.
	Store eventstore.Store
	// Mailer delivers messages through the SMTP relay.
	Mailer *mail.Mailer
	// Templates renders the bodies.
	Templates *mail.Templates
	// Documents renders the PDFs sent with emails: the return label
	// (required for return_label emails) and the invoice attached to a
	// payment receipt (left out when Documents is nil).
	Documents *pdf.Renderer
	// DefaultFromName and DefaultFrom are the sender while the email
	// settings have no from_address (PUT /v1/settings/email). With neither,
	// an email waits (a retried error) until the settings name a sender.
	DefaultFromName string
	DefaultFrom     domain.Email
	// Clock is the service's now (the test clock under TEST_CLOCK=1); nil
	// means time.Now. Sent and failed times are taken from it.
	Clock func() time.Time
	// Logger receives what is skipped; nil means slog.Default().
	Logger *slog.Logger

	// AfterDeliverFunc, when set, runs after the mail server accepted an
	// email (and the delivery ledger recorded it) and before email.sent is
	// recorded; an error it returns ends the job there, as a crash of the
	// worker at that line would (River retries it). Tests use it to show
	// that the retry records email.sent without sending again. (The window
	// between the server's answer and the ledger's record is the mailer's:
	// mail.WithAcceptedFunc.)
	AfterDeliverFunc func(ctx context.Context, id domain.EmailID) error
}

func (e *Emails) now() time.Time {
	if e.Clock == nil {
		return time.Now().UTC()
	}
	return e.Clock().UTC()
}

func (e *Emails) logger() *slog.Logger {
	if e.Logger == nil {
		return slog.Default()
	}
	return e.Logger
}

// SendEmailWorker works send_email jobs (Emails.Send).
type SendEmailWorker struct {
	river.WorkerDefaults[SendEmailArgs]
	Emails *Emails
}

// NewSendEmailWorker returns the send_email worker over e, for
// river.AddWorker.
func NewSendEmailWorker(e *Emails) *SendEmailWorker { return &SendEmailWorker{Emails: e} }

// Timeout bounds one run: an SMTP transaction takes seconds, and each of
// its steps is bounded by mail.DefaultTimeout. It is shorter than the
// mailer's lease, so a run that River gives up on has ended before another
// may take its claim over.
func (w *SendEmailWorker) Timeout(*river.Job[SendEmailArgs]) time.Duration {
	return 2 * time.Minute
}

// Work sends the job's email (Emails.Send).
func (w *SendEmailWorker) Work(ctx context.Context, job *river.Job[SendEmailArgs]) error {
	return w.Emails.Send(ctx, job.Args.EmailID, SendRun{JobID: job.ID, Attempt: job.Attempt})
}

// SendRun is what Send knows of the job running it.
type SendRun struct {
	JobID   int64
	Attempt int
}

// Send sends one planned email, once. What it returns is River's verdict:
//
//   - nil: the email is sent (now or before: an earlier run whose server
//     accepted the message but that died before recording email.sent is
//     completed from the delivery ledger, without sending again), or there
//     is nothing to send (it was canceled or failed for good);
//     a track & trace email (shipping_confirmation, track_and_trace) while
//     the setting is off, and an email to a customer whose personal data was
//     erased, are canceled instead of sent.
//   - river.JobSnooze: the email's time has not come, or another run is
//     delivering it.
//   - river.JobCancel: the relay refused it for good (5xx), its delivery
//     outcome is unknown (see workers/mail: never sent twice), or it
//     cannot be sent (no such email, a return label without its label):
//     email.failed (permanent) is recorded first where there is an email.
//   - another error: a transient failure (4xx, relay down, database):
//     email.failed (transient) is recorded first, and River retries.
//
// Every event is appended with an idempotency key derived from the email
// id (email.sent: the id itself), so a run repeated at any point appends
// nothing twice.
func (e *Emails) Send(ctx context.Context, id domain.EmailID, run SendRun) error {
	st, _, err := eventstore.Load(ctx, e.Store, email.Aggregate, email.Stream(id))
	if err != nil {
		return err
	}
	if !st.Exists() {
		return river.JobCancel(fmt.Errorf("email %s does not exist", id))
	}
	if st.Status == email.StatusSent {
		return nil
	}
	now := e.now()
	md := jobMetadata(KindSendEmail, run.JobID, now)

	// An earlier run may have delivered it and died before recording it.
	if d, ok, err := e.Mailer.Delivered(ctx, id); err != nil {
		return err
	} else if ok {
		return e.markSent(ctx, md, st, d)
	}
	if !st.Sendable() {
		return nil // canceled, or failed for good
	}
	if now.Before(st.PlannedAt) {
		return river.JobSnooze(st.PlannedAt.Sub(now))
	}

	set, _, err := eventstore.Load(ctx, e.Store, settings.Aggregate, settings.Stream())
	if err != nil {
		return err
	}
	conf := set.Email()
	if (st.Type == email.ShippingConfirmation || st.Type == email.TrackAndTrace) && !conf.TrackAndTraceEnabled {
		return e.cancel(ctx, md, st, run, "track and trace is switched off in the email settings")
	}
	cust, _, err := eventstore.Load(ctx, e.Store, customer.Aggregate, customer.Stream(st.CustomerID))
	if err != nil {
		return err
	}
	switch {
	case !cust.Exists():
		return e.cancel(ctx, md, st, run, "the customer does not exist")
	case cust.Erased:
		return e.cancel(ctx, md, st, run, "the customer's personal data is erased")
	}
	fromName, from := conf.FromName, conf.FromAddress
	if from == "" {
		fromName, from = e.DefaultFromName, e.DefaultFrom
	}
	if from == "" {
		return fmt.Errorf("email %s: no sender address: set from_address with PUT /v1/settings/email", id)
	}

	msg, err := e.compose(ctx, st, cust, fromName, from, now)
	if err != nil {
		var bad badEmail
		if errors.As(err, &bad) {
			return e.fail(ctx, md, st, run, err, true)
		}
		return err
	}
	d, err := e.Mailer.Deliver(ctx, msg, now)
	var refused *mail.Refused
	switch {
	case err == nil:
		if e.AfterDeliverFunc != nil {
			if err := e.AfterDeliverFunc(ctx, id); err != nil {
				return err
			}
		}
		return e.markSent(ctx, md, st, d)
	case errors.Is(err, mail.ErrInProgress):
		return river.JobSnooze(e.Mailer.Lease())
	case errors.Is(err, mail.ErrOutcomeUnknown):
		return e.fail(ctx, md, st, run, err, true)
	case errors.As(err, &refused):
		return e.fail(ctx, md, st, run, err, refused.Permanent())
	}
	return e.fail(ctx, md, st, run, err, false)
}

// badEmail is an email that can never be composed (its data is missing):
// it fails for good.
type badEmail struct{ error }

// compose renders an email into a message, with its attachments.
func (e *Emails) compose(ctx context.Context, st email.State, cust customer.State, fromName string, from domain.Email, now time.Time) (mail.Message, error) {
	msg := mail.Message{
		EmailID: st.ID, FromName: fromName, From: from, To: st.Recipient, Subject: st.Subject, Date: now,
	}
	switch st.Type {
	case email.ReturnLabel:
		a, err := e.returnLabel(st, cust)
		if err != nil {
			return mail.Message{}, err
		}
		msg.Attachments = append(msg.Attachments, a)
	case email.PaymentReceipt:
		if e.Documents != nil && st.Data.InvoiceID != "" {
			inv, _, err := eventstore.Load(ctx, e.Store, invoice.Aggregate, invoice.Stream(st.Data.InvoiceID))
			if err != nil {
				return mail.Message{}, err
			}
			if inv.Exists() {
				doc, err := e.Documents.Invoice(inv)
				if err != nil {
					return mail.Message{}, fmt.Errorf("rendering invoice %s: %w", inv.ID, err)
				}
				msg.Attachments = append(msg.Attachments, mail.Attachment{Name: pdf.InvoiceFileName(inv.Number), ContentType: "application/pdf", Data: doc})
			}
		}
	}
	view := mail.View{Business: fromName, Subject: st.Subject, Data: st.Data}
	if view.Business == "" {
		view.Business = string(from)
	}
	for _, a := range msg.Attachments {
		view.Attachments = append(view.Attachments, a.Name)
	}
	var err error
	if msg.Text, msg.HTML, err = e.Templates.Render(st.Type, view); err != nil {
		return mail.Message{}, err
	}
	return msg, nil
}

// returnLabel renders the label a return_label email carries: the label id
// of the request is the return code, the customer and the address orders
// ship to are the sender.
func (e *Emails) returnLabel(st email.State, cust customer.State) (mail.Attachment, error) {
	code := st.Data.LabelID
	if code == "" {
		return mail.Attachment{}, badEmail{fmt.Errorf("return_label email %s names no label", st.ID)}
	}
	if e.Documents == nil {
		return mail.Attachment{}, errors.New("no PDF renderer for return labels: Emails.Documents is not set")
	}
	label := pdf.ReturnLabel{Code: code, CustomerName: cust.Name(), From: cust.ShipsTo(), RequestedAt: st.PlannedAt}
	for _, l := range cust.ReturnLabels {
		if l.LabelID == code {
			label.RequestedAt = l.RequestedAt
		}
	}
	doc, err := e.Documents.ReturnLabel(label)
	if errors.Is(err, pdf.ErrBadReturnCode) {
		return mail.Attachment{}, badEmail{err}
	}
	if err != nil {
		return mail.Attachment{}, fmt.Errorf("rendering return label %s: %w", code, err)
	}
	return mail.Attachment{Name: pdf.ReturnLabelFileName(code), ContentType: "application/pdf", Data: doc}, nil
}

// markSent records email.sent; its idempotency key is the email id.
func (e *Emails) markSent(ctx context.Context, md eventstore.Metadata, st email.State, d mail.Delivery) error {
	_, err := eventstore.Execute(ctx, e.Store, email.Aggregate, email.Stream(st.ID),
		email.Command(email.MarkSent{EmailID: st.ID, MessageID: "<" + d.MessageID + ">", At: d.AcceptedAt}),
		eventstore.ExecuteOptions{Metadata: md, IdempotencyKey: string(st.ID)})
	if isRefusal(err) {
		// Only a permanent failure refuses it, and a delivered email is
		// never marked so (its outcome was known): log, do not retry.
		e.logger().ErrorContext(ctx, "send_email: the mail server accepted an email the log refuses to mark sent",
			"email_id", st.ID, "message_id", d.MessageID, "error", err)
		return river.JobCancel(err)
	}
	return err
}

// fail records email.failed with cause as its reason and returns River's
// verdict: JobCancel for a permanent failure, cause (retry) otherwise.
func (e *Emails) fail(ctx context.Context, md eventstore.Metadata, st email.State, run SendRun, cause error, permanent bool) error {
	reason := cause.Error()
	// One transient failure per run of a job: a repeated run of the same
	// job attempt appends nothing twice, another job's run appends its own.
	key := fmt.Sprintf("%s/failed/%d/%d", st.ID, run.JobID, run.Attempt)
	if permanent {
		key = string(st.ID) + "/failed/permanent"
	}
	_, err := eventstore.Execute(ctx, e.Store, email.Aggregate, email.Stream(st.ID),
		email.Command(email.MarkFailed{EmailID: st.ID, Reason: reason, Permanent: permanent, At: md.OccurredAt}),
		eventstore.ExecuteOptions{Metadata: md, IdempotencyKey: key})
	if err != nil && !errors.Is(err, email.ErrEmailAlreadySent) {
		return fmt.Errorf("recording the failure of email %s (%s): %w", st.ID, reason, err)
	}
	cause = fmt.Errorf("email %s: %w", st.ID, cause)
	if permanent {
		e.logger().WarnContext(ctx, "send_email: failed for good", "email_id", st.ID, "type", st.Type, "reason", reason)
		return river.JobCancel(cause)
	}
	return cause
}

// cancel withdraws an email that must not go out.
func (e *Emails) cancel(ctx context.Context, md eventstore.Metadata, st email.State, run SendRun, reason string) error {
	_, err := eventstore.Execute(ctx, e.Store, email.Aggregate, email.Stream(st.ID),
		email.Command(email.Cancel{EmailID: st.ID, Reason: reason, At: md.OccurredAt}),
		eventstore.ExecuteOptions{Metadata: md, IdempotencyKey: fmt.Sprintf("%s/canceled/%d", st.ID, run.JobID)})
	if err != nil {
		return err
	}
	e.logger().InfoContext(ctx, "send_email: canceled", "email_id", st.ID, "type", st.Type, "reason", reason)
	return nil
}
