// Package mail sends subsd's emails over SMTP with go-mail
// (github.com/wneessen/go-mail): the SMTP client configured from SMTP_URL,
// the templates of every email type (HTML and plain text, embedded), and
// Mailer.Deliver, which hands one message to the relay at most once.
//
// # Never sent twice
//
// SMTP has no idempotency key: a server that accepted a message delivers it
// again if the same message is sent again. So the Mailer keeps a delivery
// ledger in PostgreSQL (table mail_deliveries, one row per email) and
// writes it around the one step that matters, the final "." of the DATA
// command, after which the server may deliver:
//
//  1. Claim the email (state sending). Nothing is delivered before the final
//     ".", so an attempt that dies before it is simply tried again, after
//     a lease (DefaultLease) when it died without a word.
//  2. Open the SMTP transaction: MAIL FROM, RCPT TO, DATA, the message.
//  3. Record handed_over, then send the final "." and read the answer.
//  4. 250: record accepted. The caller then records email.sent; a caller
//     that dies before that finds accepted in the ledger on its retry and
//     records email.sent without sending (Deliver returns the earlier
//     Delivery).
//     4xx/5xx: record not_sent; the caller retries a 4xx later and gives up
//     on a 5xx (Refused.Permanent).
//
// The window that remains is between step 3's record and step 4's: the
// process dies (or the connection breaks) after the final "." left and
// before "accepted" is committed. The server may or may not have the
// message, and there is no way to ask it. Deliver then does not send again
// (ErrOutcomeUnknown), so the rule "a sent email is never sent twice" holds
// without exception, and the caller records the email as failed with that
// reason: at worst a delivered email shows as failed, and support can
// search the relay's log for its Message-ID, which is derived from the
// email id (MessageID). The window lasts one network round trip and one
// row update, against the seconds an SMTP transaction takes.
package mail

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	gomail "github.com/wneessen/go-mail"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/workers/mail/internal/dbsqlc"
)

// DefaultLease is how long a claim or a hand-over is trusted to be in
// progress: after it, an abandoned claim (nothing sent) may be taken over
// and an unanswered hand-over is taken as lost (ErrOutcomeUnknown). It
// exceeds the longest an attempt can take with DefaultTimeout per SMTP
// step (dial, greeting, STARTTLS, AUTH, MAIL, RCPT, DATA, the data, the
// final answer).
const DefaultLease = 10 * DefaultTimeout

// Delivery is an email the server accepted.
type Delivery struct {
	// MessageID is the Message-ID it went out with, without brackets.
	MessageID string
	// AcceptedAt is when the server accepted it, by the caller's clock.
	AcceptedAt time.Time
	// Reply is the server's answer to the final "." (its queue id, often).
	Reply string
	// Earlier is set when an earlier attempt delivered it and this call
	// sent nothing.
	Earlier bool
}

// The outcomes of Deliver other than a Delivery.
var (
	// ErrInProgress: another attempt holds the email (its claim or
	// hand-over is younger than the lease). Try again after the lease.
	ErrInProgress = errors.New("mail: another attempt is delivering this email")
	// ErrOutcomeUnknown: an attempt handed the message over and no answer
	// was recorded (the worker died or the connection broke after the final
	// "."). The email must not be sent again.
	ErrOutcomeUnknown = errors.New("mail: the email was handed to the SMTP server but its answer was never recorded, " +
		"so it may have been delivered; it is not sent again")
)

// Refused is the server's refusal of a message: a 4xx or 5xx reply to
// MAIL FROM, RCPT TO, DATA or the message itself. Nothing was delivered.
type Refused struct {
	// Step is the SMTP command refused: "MAIL", "RCPT", "DATA" or "message".
	Step  string
	Code  int
	Reply string
}

// Permanent reports a 5xx reply: sending the same message again is
// refused again (no such mailbox, message rejected).
func (r *Refused) Permanent() bool { return r.Code >= 500 && r.Code < 600 }

func (r *Refused) Error() string {
	return fmt.Sprintf("the SMTP server refused %s: %d %s", r.Step, r.Code, r.Reply)
}

// Mailer delivers messages through one SMTP relay, at most once per email
// (see the package doc). It is safe for concurrent use.
type Mailer struct {
	client  *gomail.Client
	queries *dbsqlc.Queries
	lease   time.Duration
	timeout time.Duration
	// acceptedFunc runs between the server's 250 and its record (tests:
	// a crash in the window).
	acceptedFunc func(ctx context.Context) error
}

// Option tunes a Mailer.
type Option func(*Mailer)

// WithTimeout bounds each SMTP step; the default is DefaultTimeout.
func WithTimeout(d time.Duration) Option { return func(m *Mailer) { m.timeout = d } }

// WithLease sets the lease (DefaultLease by default); tests shorten it.
func WithLease(d time.Duration) Option { return func(m *Mailer) { m.lease = d } }

// WithAcceptedFunc runs f after the server accepted a message and before
// the acceptance is recorded; an error from f ends Deliver with that error
// and nothing recorded, as if the process had died there. For tests of the
// window the package doc describes.
func WithAcceptedFunc(f func(ctx context.Context) error) Option {
	return func(m *Mailer) { m.acceptedFunc = f }
}

// NewMailer returns a Mailer that sends through the relay at smtpURL (see
// the URL forms at newSMTPClient: smtp:// with STARTTLS when offered,
// smtps://, user and password, ?starttls=required|off) and keeps its ledger
// in pool (Migrate creates it).
func NewMailer(pool *pgxpool.Pool, smtpURL *url.URL, opts ...Option) (*Mailer, error) {
	m := &Mailer{queries: dbsqlc.New(pool), lease: DefaultLease, timeout: DefaultTimeout}
	for _, o := range opts {
		o(m)
	}
	c, err := newSMTPClient(smtpURL, m.timeout)
	if err != nil {
		return nil, err
	}
	m.client = c
	return m, nil
}

// Lease returns how long a claim or hand-over is trusted to be in
// progress: the wait after ErrInProgress.
func (m *Mailer) Lease() time.Duration { return m.lease }

// Delivered returns the Delivery of an email the server accepted, and
// false when it has not (yet) accepted it.
func (m *Mailer) Delivered(ctx context.Context, id domain.EmailID) (Delivery, bool, error) {
	row, err := m.queries.GetDelivery(ctx, dbsqlc.GetDeliveryParams{EmailID: string(id), LeaseSeconds: m.lease.Seconds()})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return Delivery{}, false, nil
	case err != nil:
		return Delivery{}, false, fmt.Errorf("reading the delivery of %s: %w", id, err)
	case row.State != "accepted" || row.AcceptedAt == nil:
		return Delivery{}, false, nil
	}
	return Delivery{MessageID: row.MessageID, AcceptedAt: row.AcceptedAt.UTC(), Reply: row.ServerReply, Earlier: true}, true, nil
}

// Deliver sends msg unless an earlier attempt did, and returns the
// Delivery; now is the business clock's time, recorded as AcceptedAt. The
// Message-ID is MessageID(msg.EmailID, the From address's domain), fixed
// by the first attempt.
//
// Errors: ErrInProgress and ErrOutcomeUnknown (see each), *Refused for a
// refusal by the server (nothing delivered), and anything else for a
// failure to retry later (the relay is down, the connection broke before
// the final ".", the database is unreachable). A retry never sends a
// message that may have been delivered: it finds the ledger's record.
func (m *Mailer) Deliver(ctx context.Context, msg Message, now time.Time) (Delivery, error) {
	id := string(msg.EmailID)
	claim, err := m.queries.ClaimDelivery(ctx, dbsqlc.ClaimDeliveryParams{
		EmailID: id, MessageID: MessageID(msg.EmailID, domainOf(msg.From)), LeaseSeconds: m.lease.Seconds(),
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return m.unclaimable(ctx, msg.EmailID)
	}
	if err != nil {
		return Delivery{}, fmt.Errorf("claiming the delivery of %s: %w", id, err)
	}
	d, handedOver, err := m.transact(ctx, msg, claim, now)
	if err != nil {
		if !handedOver {
			// Nothing was delivered: free the email for the next attempt.
			// Should this record fail, the claim frees itself after the
			// lease.
			m.recordNotSent(ctx, id, claim.Attempts, err)
		}
		return Delivery{}, err
	}
	return d, nil
}

// unclaimable says why an email could not be claimed.
func (m *Mailer) unclaimable(ctx context.Context, id domain.EmailID) (Delivery, error) {
	row, err := m.queries.GetDelivery(ctx, dbsqlc.GetDeliveryParams{EmailID: string(id), LeaseSeconds: m.lease.Seconds()})
	if err != nil {
		return Delivery{}, fmt.Errorf("reading the delivery of %s: %w", id, err)
	}
	switch {
	case row.State == "accepted" && row.AcceptedAt != nil:
		return Delivery{MessageID: row.MessageID, AcceptedAt: row.AcceptedAt.UTC(), Reply: row.ServerReply, Earlier: true}, nil
	case row.State == "handed_over" && row.Stale:
		return Delivery{}, ErrOutcomeUnknown
	}
	return Delivery{}, ErrInProgress
}

// transact runs one SMTP transaction for a claimed email. handedOver
// reports whether the message may have been delivered: the final "." left
// and the server did not refuse it.
func (m *Mailer) transact(ctx context.Context, msg Message, claim dbsqlc.ClaimDeliveryRow, now time.Time) (_ Delivery, handedOver bool, _ error) {
	id := string(msg.EmailID)
	built, err := msg.build(claim.MessageID)
	if err != nil {
		return Delivery{}, false, err
	}
	from, err := built.GetSender(false)
	if err != nil {
		return Delivery{}, false, err
	}
	rcpts, err := built.GetRecipients()
	if err != nil {
		return Delivery{}, false, err
	}

	c, err := m.client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return Delivery{}, false, fmt.Errorf("connecting to the SMTP server: %w", err)
	}
	// QUIT when all went well; after an abort the connection is already
	// closed and this does nothing.
	defer func() { _ = m.client.CloseWithSMTPClient(c) }()

	if err := c.UpdateDeadline(m.timeout); err != nil {
		return Delivery{}, false, err
	}
	if err := c.Mail(from); err != nil {
		return Delivery{}, false, refusal("MAIL", err)
	}
	for _, r := range rcpts {
		if err := c.Rcpt(r); err != nil {
			return Delivery{}, false, refusal("RCPT", err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return Delivery{}, false, refusal("DATA", err)
	}
	if _, err := built.WriteTo(w); err != nil {
		_ = c.Close() // without the final ".", the server discards the message
		return Delivery{}, false, fmt.Errorf("writing the message: %w", err)
	}

	// From here on the server may deliver: record that first.
	n, err := m.queries.MarkHandedOver(ctx, dbsqlc.MarkHandedOverParams{EmailID: id, Attempts: claim.Attempts})
	if err != nil || n == 0 {
		_ = c.Close()
		if err == nil {
			// The lease ran out and another attempt took the claim over.
			return Delivery{}, false, ErrInProgress
		}
		return Delivery{}, false, fmt.Errorf("recording the hand-over of %s: %w", id, err)
	}
	if err := c.UpdateDeadline(m.timeout); err != nil {
		_ = c.Close() // nothing sent yet: the final "." is still to go
		return Delivery{}, false, err
	}
	reply := ""
	if err := w.Close(); err != nil {
		var tp *textproto.Error
		switch {
		case errors.As(err, &tp) && tp.Code/100 == 2:
			// Another 2xx than the 250 expected: accepted all the same.
			reply = fmt.Sprintf("%d %s", tp.Code, tp.Msg)
		case errors.As(err, &tp):
			return Delivery{}, false, &Refused{Step: "message", Code: tp.Code, Reply: tp.Msg}
		default:
			return Delivery{}, true, fmt.Errorf("%w (waiting for the answer: %w)", ErrOutcomeUnknown, err)
		}
	} else if dc, ok := w.(interface{ ServerResponse() string }); ok {
		reply = dc.ServerResponse()
	}

	if m.acceptedFunc != nil {
		if err := m.acceptedFunc(ctx); err != nil {
			return Delivery{}, true, err
		}
	}
	if err := m.recordAccepted(ctx, id, claim.Attempts, now, reply); err != nil {
		// Delivered, but not recorded: the retry finds the hand-over
		// (ErrInProgress, then ErrOutcomeUnknown after the lease).
		return Delivery{}, true, err
	}
	return Delivery{MessageID: claim.MessageID, AcceptedAt: now.UTC(), Reply: reply}, true, nil
}

// recordAccepted records the server's 250. The message is delivered, so a
// failure here would turn into ErrOutcomeUnknown for the retry: it is
// tried a few times, on a context the job's cancellation does not end.
func (m *Mailer) recordAccepted(ctx context.Context, id string, attempts int32, now time.Time, reply string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	at := now.UTC()
	var err error
	for wait := 50 * time.Millisecond; ; wait *= 2 {
		var n int64
		n, err = m.queries.MarkAccepted(ctx, dbsqlc.MarkAcceptedParams{EmailID: id, Attempts: attempts, AcceptedAt: &at, ServerReply: cut(reply)})
		if err == nil {
			if n == 0 {
				return fmt.Errorf("recording the acceptance of %s: the hand-over record is gone", id)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("recording the acceptance of %s: %w", id, err)
		case <-time.After(wait):
		}
	}
}

func (m *Mailer) recordNotSent(ctx context.Context, id string, attempts int32, cause error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, _ = m.queries.MarkNotSent(ctx, dbsqlc.MarkNotSentParams{EmailID: id, Attempts: attempts, ServerReply: cut(cause.Error())})
}

// refusal turns a reply error into *Refused; other errors (the connection
// broke) pass through.
func refusal(step string, err error) error {
	var tp *textproto.Error
	if errors.As(err, &tp) {
		return &Refused{Step: step, Code: tp.Code, Reply: tp.Msg}
	}
	return fmt.Errorf("SMTP %s: %w", step, err)
}

// cut keeps a server reply to a length worth storing.
func cut(s string) string {
	s = strings.ToValidUTF8(strings.TrimSpace(s), "?")
	if len(s) > 500 {
		s = s[:500]
	}
	return s
}
