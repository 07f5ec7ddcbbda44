package mail_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/eventstore/postgres/pgtest"
	"github.com/subsd/subsd/workers/mail"
	"github.com/subsd/subsd/workers/mail/mailtest"
)

type bundle struct {
	pool   *pgxpool.Pool
	server *mailtest.Server
	mailer *mail.Mailer
	now    time.Time
}

func setup(t *testing.T, opts ...mail.Option) *bundle {
	t.Helper()
	pool := pgtest.NewPool(t)
	require.NoError(t, mail.Migrate(context.Background(), pool))
	b := &bundle{pool: pool, server: mailtest.NewServer(t), now: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
	b.mailer = b.newMailer(t, b.server.URL, opts...)
	return b
}

func (b *bundle) newMailer(t *testing.T, u *url.URL, opts ...mail.Option) *mail.Mailer {
	t.Helper()
	m, err := mail.NewMailer(b.pool, u, append([]mail.Option{mail.WithTimeout(5 * time.Second)}, opts...)...)
	require.NoError(t, err)
	return m
}

func message(id domain.EmailID) mail.Message {
	return mail.Message{
		EmailID:  id,
		FromName: "Vivlab",
		From:     "hello@vivlab.example",
		To:       "zoe@example.com",
		Subject:  "Your return label — Zoë",
		Date:     time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC),
		Text:     "Plain text, with ë and a long line " + strings.Repeat("x", 100) + "\n",
		HTML:     "<p>HTML, with <strong>ë</strong></p>",
		Attachments: []mail.Attachment{
			{Name: "return-label-rl_1.pdf", ContentType: "application/pdf", Data: []byte("%PDF-1.4 pretend\x00\x01\x02")},
		},
	}
}

func (b *bundle) state(t *testing.T, id domain.EmailID) (state string, attempts int) {
	t.Helper()
	require.NoError(t, b.pool.QueryRow(context.Background(),
		"SELECT state, attempts FROM mail_deliveries WHERE email_id = $1", string(id)).Scan(&state, &attempts))
	return state, attempts
}

// TestDeliver: one message goes out with the envelope, headers, both
// bodies and the attachment as given, and a Message-ID derived from the
// email id; delivering the same email again sends nothing and returns the
// first delivery.
func TestDeliver(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	d, err := b.mailer.Deliver(ctx, message("eml_a1"), b.now)
	require.NoError(t, err)
	require.Equal(t, "eml_a1@vivlab.example", d.MessageID)
	require.Equal(t, b.now, d.AcceptedAt)
	require.False(t, d.Earlier)

	got := b.server.Messages(t)
	require.Len(t, got, 1)
	m := got[0]
	require.Equal(t, "hello@vivlab.example", m.From)
	require.Equal(t, []string{"zoe@example.com"}, m.To)
	require.Equal(t, "eml_a1@vivlab.example", m.MessageID)
	require.Equal(t, "Your return label — Zoë", m.Subject)
	require.Equal(t, `"Vivlab" <hello@vivlab.example>`, m.Header.Get("From"))
	require.Equal(t, "<zoe@example.com>", m.Header.Get("To"))
	require.Equal(t, "auto-generated", m.Header.Get("Auto-Submitted"))
	date, err := m.Header.Date()
	require.NoError(t, err)
	require.True(t, date.Equal(message("").Date))
	require.Equal(t, message("").Text, strings.ReplaceAll(m.Text, "\r\n", "\n"))
	require.Equal(t, message("").HTML, m.HTML)
	require.Len(t, m.Attachments, 1)
	require.Equal(t, "return-label-rl_1.pdf", m.Attachments[0].Name)
	require.Equal(t, "application/pdf", m.Attachments[0].ContentType)
	require.Equal(t, message("").Attachments[0].Data, m.Attachments[0].Data)

	state, attempts := b.state(t, "eml_a1")
	require.Equal(t, "accepted", state)
	require.Equal(t, 1, attempts)

	again, err := b.mailer.Deliver(ctx, message("eml_a1"), b.now.Add(time.Hour))
	require.NoError(t, err)
	require.True(t, again.Earlier)
	require.Equal(t, d.MessageID, again.MessageID)
	require.Equal(t, b.now, again.AcceptedAt, "the first acceptance is kept")
	require.Len(t, b.server.Messages(t), 1, "sent once")

	delivered, ok, err := b.mailer.Delivered(ctx, "eml_a1")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, d.MessageID, delivered.MessageID)
	_, ok, err = b.mailer.Delivered(ctx, "eml_never")
	require.NoError(t, err)
	require.False(t, ok)
}

// TestRefusals: a 5xx is permanent, a 4xx is not; neither delivered
// anything, so the next attempt sends, with the same Message-ID.
func TestRefusals(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()

	b.server.RejectRecipients(func(to string) error {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	})
	_, err := b.mailer.Deliver(ctx, message("eml_r1"), b.now)
	var refused *mail.Refused
	require.ErrorAs(t, err, &refused)
	require.True(t, refused.Permanent())
	require.Equal(t, "RCPT", refused.Step)
	require.Equal(t, 550, refused.Code)
	require.Contains(t, refused.Reply, "no such user")
	state, _ := b.state(t, "eml_r1")
	require.Equal(t, "not_sent", state)

	b.server.RejectRecipients(nil)
	b.server.RejectMessages(func([]byte) error {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	})
	_, err = b.mailer.Deliver(ctx, message("eml_r1"), b.now)
	require.ErrorAs(t, err, &refused)
	require.False(t, refused.Permanent())
	require.Equal(t, "message", refused.Step)
	require.Empty(t, b.server.Messages(t))

	b.server.RejectMessages(nil)
	d, err := b.mailer.Deliver(ctx, message("eml_r1"), b.now)
	require.NoError(t, err)
	require.Equal(t, "eml_r1@vivlab.example", d.MessageID)
	require.Len(t, b.server.Messages(t), 1)
	state, attempts := b.state(t, "eml_r1")
	require.Equal(t, "accepted", state)
	require.Equal(t, 3, attempts)
}

// TestRelayDown: a relay that does not answer delivers nothing; the email
// is free for the next attempt at once.
func TestRelayDown(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := &url.URL{Scheme: "smtp", Host: ln.Addr().String(), RawQuery: "starttls=off"}
	require.NoError(t, ln.Close())

	_, err = b.newMailer(t, closed).Deliver(ctx, message("eml_down"), b.now)
	require.Error(t, err)
	var refused *mail.Refused
	require.False(t, errors.As(err, &refused))
	require.NotErrorIs(t, err, mail.ErrOutcomeUnknown)
	state, _ := b.state(t, "eml_down")
	require.Equal(t, "not_sent", state)

	_, err = b.mailer.Deliver(ctx, message("eml_down"), b.now)
	require.NoError(t, err)
	require.Len(t, b.server.Messages(t), 1)
}

// TestCrashAfterAccepted: the worker dies between the server's 250 and
// recording it. The retry does not send again: while the hand-over is
// fresh another attempt may still be waiting for the answer
// (ErrInProgress); once the lease is over the outcome is unknown
// (ErrOutcomeUnknown). The server holds exactly one message.
func TestCrashAfterAccepted(t *testing.T) {
	t.Parallel()
	crash := errors.New("killed")
	b := setup(t, mail.WithAcceptedFunc(func(context.Context) error { return crash }), mail.WithLease(time.Second))
	ctx := context.Background()
	_, err := b.mailer.Deliver(ctx, message("eml_c1"), b.now)
	require.ErrorIs(t, err, crash)
	require.Len(t, b.server.Messages(t), 1)
	state, _ := b.state(t, "eml_c1")
	require.Equal(t, "handed_over", state)

	retry := b.newMailer(t, b.server.URL, mail.WithLease(time.Second))
	_, err = retry.Deliver(ctx, message("eml_c1"), b.now)
	require.ErrorIs(t, err, mail.ErrInProgress)
	time.Sleep(1100 * time.Millisecond)
	_, err = retry.Deliver(ctx, message("eml_c1"), b.now)
	require.ErrorIs(t, err, mail.ErrOutcomeUnknown)
	require.Len(t, b.server.Messages(t), 1, "never sent twice")
}

// TestNoAnswerToTheFinalDot: the connection breaks after the final "."
// and before the server's answer (it has the message). The outcome is
// unknown at once, and no later attempt sends the message again.
func TestNoAnswerToTheFinalDot(t *testing.T) {
	t.Parallel()
	b := setup(t, mail.WithLease(time.Second))
	ctx := context.Background()
	b.server.HangUpAfterData(true)
	_, err := b.mailer.Deliver(ctx, message("eml_hup"), b.now)
	require.ErrorIs(t, err, mail.ErrOutcomeUnknown)
	require.Len(t, b.server.Messages(t), 1)
	state, _ := b.state(t, "eml_hup")
	require.Equal(t, "handed_over", state)

	b.server.HangUpAfterData(false)
	time.Sleep(1100 * time.Millisecond)
	_, err = b.mailer.Deliver(ctx, message("eml_hup"), b.now)
	require.ErrorIs(t, err, mail.ErrOutcomeUnknown)
	require.Len(t, b.server.Messages(t), 1, "never sent twice")
}

// TestAbandonedClaim: an attempt that died before the final "." left a
// claim and delivered nothing; after the lease the next attempt takes it
// over and sends, with the Message-ID the first claim fixed.
func TestAbandonedClaim(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	_, err := b.pool.Exec(ctx, `INSERT INTO mail_deliveries (email_id, message_id, state, attempts, claimed_at)
		VALUES ('eml_ab', 'eml_ab@old-domain.example', 'sending', 1, now() - interval '1 hour')`)
	require.NoError(t, err)
	d, err := b.mailer.Deliver(ctx, message("eml_ab"), b.now)
	require.NoError(t, err)
	require.Equal(t, "eml_ab@old-domain.example", d.MessageID)
	got := b.server.Messages(t)
	require.Len(t, got, 1)
	require.Equal(t, "eml_ab@old-domain.example", got[0].MessageID)
	_, attempts := b.state(t, "eml_ab")
	require.Equal(t, 2, attempts)

	// A fresh claim is someone else's attempt in progress.
	_, err = b.pool.Exec(ctx, `INSERT INTO mail_deliveries (email_id, message_id, state, attempts, claimed_at)
		VALUES ('eml_busy', 'eml_busy@x.example', 'sending', 1, now())`)
	require.NoError(t, err)
	_, err = b.mailer.Deliver(ctx, message("eml_busy"), b.now)
	require.ErrorIs(t, err, mail.ErrInProgress)
	require.Len(t, b.server.Messages(t), 1)
}

// TestConcurrentDeliveries: attempts racing for one email send it once.
func TestConcurrentDeliveries(t *testing.T) {
	t.Parallel()
	b := setup(t)
	ctx := context.Background()
	var (
		wg                  sync.WaitGroup
		mu                  sync.Mutex
		sent, earlier, busy int
		unexpected          []error
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := b.mailer.Deliver(ctx, message("eml_race"), b.now)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, mail.ErrInProgress):
				busy++
			case err != nil:
				unexpected = append(unexpected, err)
			case d.Earlier:
				earlier++
			default:
				sent++
			}
		}()
	}
	wg.Wait()
	require.Empty(t, unexpected)
	require.Equal(t, 1, sent)
	require.Equal(t, 8, sent+earlier+busy)
	require.Len(t, b.server.Messages(t), 1)
}

func TestSMTPURL(t *testing.T) {
	t.Parallel()
	pool := (*pgxpool.Pool)(nil)
	for _, bad := range []string{"http://x", "smtp://", "smtp://h?starttls=maybe", "smtp://h:0"} {
		u, err := url.Parse(bad)
		require.NoError(t, err)
		_, err = mail.NewMailer(pool, u)
		require.Error(t, err, bad)
	}
	for _, good := range []string{"smtp://h", "smtp://u:p@h:2525?starttls=required", "smtps://h", "smtp://h?starttls=off"} {
		u, err := url.Parse(good)
		require.NoError(t, err)
		_, err = mail.NewMailer(pool, u)
		require.NoError(t, err, good)
	}
	_, err := mail.NewMailer(pool, nil)
	require.Error(t, err)
}
