package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/http"
	"github.com/subsd/subsd/workers"
	"github.com/subsd/subsd/workers/mail"
	"github.com/subsd/subsd/workers/pdf"
	"github.com/subsd/subsd/workers/stripe"
)

// serviceClock is the one clock of the process (DESIGN.md 6): time.Now, or,
// with TEST_CLOCK=1, the test clock once it is open (it lives in the
// database, so it opens after the migrations; until then a test-clock
// process reads the real time, and serves nothing that depends on it
// because it is not ready yet).
type serviceClock struct {
	test atomic.Pointer[workers.TestClock]
}

// Now returns the process's now.
func (c *serviceClock) Now() time.Time {
	if tc := c.test.Load(); tc != nil {
		return tc.Now()
	}
	return time.Now()
}

// lazyTestClock is the HTTP server's TestClockControl: the server is made
// before the migrations run (so probes answer), the advancer after.
type lazyTestClock struct {
	clock    *serviceClock
	advancer atomic.Pointer[workers.Advancer]
}

var errTestClockNotReady = errors.New("the test clock is not open yet (migrations are still running)")

func (l *lazyTestClock) Now() time.Time { return l.clock.Now() }

func (l *lazyTestClock) AdvanceAfter(ctx context.Context, to time.Time, after eventstore.Position) (eventstore.Position, error) {
	a := l.advancer.Load()
	if a == nil {
		return eventstore.Position{}, errTestClockNotReady
	}
	return a.AdvanceAfter(ctx, to, after)
}

// testClockRefresh is how often a process reads the test clock again, to
// follow advances made by another process.
const testClockRefresh = 250 * time.Millisecond

// riverStopTimeout bounds River's graceful drain at shutdown: jobs still
// running then are cancelled (and retried later by whichever worker
// picks them up: every job is idempotent).
const riverStopTimeout = 15 * time.Second

// workerParts are the outside world's adapters the workers and handlers
// use: Stripe (when STRIPE_SECRET_KEY is set), SMTP (when SMTP_URL is set)
// and the PDF renderer (always; see Config.Business). A part that is not
// configured is nil: its jobs then wait in River (unknown kinds are
// retried) and its endpoints answer 501.
type workerParts struct {
	payments  *workers.Payments
	emails    *workers.Emails
	documents *pdf.Renderer
}

func newWorkerParts(cfg Config, pool *pgxpool.Pool, store eventstore.Store, now func() time.Time, logger *slog.Logger) (*workerParts, error) {
	p := &workerParts{}
	if cfg.Business != nil {
		r, err := pdf.New(*cfg.Business, cfg.BusinessTimeZone)
		if err != nil {
			return nil, fmt.Errorf("BUSINESS_ADDRESS: %w", err)
		}
		p.documents = r
	}
	if cfg.StripeSecretKey != "" {
		client, err := stripe.New(stripe.Config{
			SecretKey: cfg.StripeSecretKey, APIBase: cfg.StripeAPIBase, WebhookSecret: cfg.StripeWebhookSecret, Logger: logger,
		})
		if err != nil {
			return nil, fmt.Errorf("STRIPE_SECRET_KEY: %w", err)
		}
		p.payments = &workers.Payments{
			Store: store, Pool: pool, Stripe: client, Inbox: stripe.NewInbox(pool),
			Clock: now, Location: cfg.BusinessTimeZone, Logger: logger,
		}
	}
	if cfg.SMTPURL != nil {
		mailer, err := mail.NewMailer(pool, cfg.SMTPURL)
		if err != nil {
			return nil, fmt.Errorf("SMTP_URL: %w", err)
		}
		templates, err := mail.NewTemplates(cfg.BusinessTimeZone)
		if err != nil {
			return nil, fmt.Errorf("loading the email templates: %w", err)
		}
		fromName, from := cfg.MailFromName, cfg.MailFrom
		if from == "" {
			// API.md's configuration names no sender: rather than hold
			// every email until the email settings name one, send from a
			// placeholder the settings' from_address replaces.
			fromName, from = cfg.Business.Name, fallbackSender
			logger.Warn("MAIL_FROM is not set: emails are sent from " + string(from) +
				" until the email settings name a sender (PUT /v1/settings/email from_address)")
		}
		p.emails = &workers.Emails{
			Store: store, Mailer: mailer, Templates: templates, Documents: p.documents,
			DefaultFromName: fromName, DefaultFrom: from, Clock: now, Logger: logger,
		}
	}
	return p, nil
}

// fallbackSender is the sender of emails when neither MAIL_FROM nor the
// email settings name one.
const fallbackSender domain.Email = "noreply@localhost.localdomain"

// addWorkers registers the configured parts' River workers.
func (p *workerParts) addWorkers(ws *river.Workers) {
	if p.payments != nil {
		workers.AddPaymentWorkers(ws, p.payments)
	}
	if p.emails != nil {
		river.AddWorker(ws, workers.NewSendEmailWorker(p.emails))
	}
}

// httpPayments is the HTTP server's Payments (nil without Stripe).
func (p *workerParts) httpPayments() http.Payments {
	if p.payments == nil {
		return nil
	}
	return p.payments
}

// invoicePDF is the HTTP server's InvoicePDF (nil without a business
// address).
func (p *workerParts) invoicePDF() http.InvoicePDFRenderer {
	if p.documents == nil {
		return nil
	}
	return p.documents
}
