package stripe

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	"github.com/subsd/subsd/workers/stripe/internal/dbsqlc"
)

//go:generate go run github.com/sqlc-dev/sqlc/cmd/sqlc@v1.31.1 generate -f internal/dbsqlc/sqlc.yaml

//go:embed migrations/*.sql
var migrations embed.FS

// versionTable records which of this package's migrations have run.
const versionTable = "stripe_schema_version"

// Migrate applies this package's numbered migrations (the webhook inbox).
// It is idempotent; concurrent calls are serialised by the migrator's
// advisory lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrating stripe: %w", err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), versionTable)
	if err != nil {
		return fmt.Errorf("migrating stripe: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrating stripe: %w", err)
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("migrating stripe: loading migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrating stripe: %w", err)
	}
	return nil
}

// Inbox remembers the webhook events received, by Stripe's event id, in
// PostgreSQL (see Migrate). It is safe for concurrent use.
//
// The inbox cannot be in one transaction with what applying an event
// appends (the event store may be EventStoreDB), so it is used as: Receive,
// apply, MarkApplied. A crash in between leaves the event unapplied, and
// Stripe's redelivery applies it again; what applying does is idempotent
// in itself (the invoice aggregate ignores a known outcome or refund, and
// the appends' event ids derive from Stripe's event id). The inbox makes a
// redelivery of an applied event cheap and visible, not correct.
type Inbox struct {
	q *dbsqlc.Queries
}

// NewInbox returns the inbox in pool's database.
func NewInbox(pool *pgxpool.Pool) *Inbox { return &Inbox{q: dbsqlc.New(pool)} }

// Receive records a delivery of e and reports whether e was applied by an
// earlier delivery.
func (in *Inbox) Receive(ctx context.Context, e Event) (applied bool, err error) {
	at, err := in.q.WebhookEventReceive(ctx, dbsqlc.WebhookEventReceiveParams{
		EventID: e.ID, Type: e.Type, ObjectID: e.ObjectID(), StripeCreatedAt: e.Created,
	})
	if err != nil {
		return false, fmt.Errorf("recording stripe event %s: %w", e.ID, err)
	}
	return at != nil, nil
}

// MarkApplied records that e's effects are recorded, with a short outcome
// for operators ("applied", "ignored: ..."). The first outcome stays.
func (in *Inbox) MarkApplied(ctx context.Context, eventID, outcome string) error {
	err := in.q.WebhookEventApplied(ctx, dbsqlc.WebhookEventAppliedParams{
		EventID: eventID, Outcome: pgtype.Text{String: outcome, Valid: true},
	})
	if err != nil {
		return fmt.Errorf("marking stripe event %s applied: %w", eventID, err)
	}
	return nil
}

// InboxRecord is what the inbox knows of one event.
type InboxRecord struct {
	EventID    string
	Type       string
	ObjectID   string
	Deliveries int
	AppliedAt  *time.Time
	Outcome    string
}

// ErrNotReceived is returned by Record for an event never received.
var ErrNotReceived = errors.New("stripe: no such webhook event received")

// Record returns the inbox's record of one event.
func (in *Inbox) Record(ctx context.Context, eventID string) (InboxRecord, error) {
	r, err := in.q.WebhookEventGet(ctx, eventID)
	if errors.Is(err, pgx.ErrNoRows) {
		return InboxRecord{}, ErrNotReceived
	}
	if err != nil {
		return InboxRecord{}, fmt.Errorf("reading stripe event %s: %w", eventID, err)
	}
	return InboxRecord{EventID: r.EventID, Type: r.Type, ObjectID: r.ObjectID, Deliveries: int(r.Deliveries),
		AppliedAt: r.AppliedAt, Outcome: r.Outcome.String}, nil
}
