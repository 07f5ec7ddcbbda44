package workers

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/workers/internal/dbsqlc"
)

//go:generate go run github.com/sqlc-dev/sqlc/cmd/sqlc@v1.30.0 generate -f internal/dbsqlc/sqlc.yaml

//go:embed migrations/*.sql
var migrations embed.FS

// versionTable records which of this package's migrations have run.
const versionTable = "workers_schema_version"

// Migrate applies River's migrations (rivermigrate, to the latest version
// of the River this binary is built with) and then this package's own
// (charge_attempts, shipments, due_work, email_throttle, test_clock). Both
// are idempotent and take advisory locks, so every process may run them on
// start.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return fmt.Errorf("migrating River: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrating River: %w", err)
	}

	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrating workers: %w", err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), versionTable)
	if err != nil {
		return fmt.Errorf("migrating workers: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("migrating workers: %w", err)
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("migrating workers: loading migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrating workers: %w", err)
	}
	return nil
}

// Client is the River client every part of the service uses: workers run
// on it, reactors and handlers insert through it.
type Client = river.Client[pgx.Tx]

// JobInserter is what enqueuing needs of a River client: *Client has it.
// Jobs are only ever inserted inside a transaction that also records why
// (a checkpoint, a guard row), so there is no non-Tx variant here.
type JobInserter interface {
	InsertTx(ctx context.Context, tx pgx.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// ClientConfig configures NewClient.
type ClientConfig struct {
	// Workers are the job workers this process runs. Nil makes an
	// insert-only client (the api and projector roles): it enqueues jobs
	// that a worker process runs.
	Workers *river.Workers
	// MaxWorkers bounds the jobs worked at once by this process (default
	// 100).
	MaxWorkers int
	// DueWorkInterval is how often the periodic due_work job runs (default
	// a minute); negative disables it. Only with Workers.
	DueWorkInterval time.Duration
	// Logger receives River's logs (default slog.Default()).
	Logger *slog.Logger
	// FetchCooldown and FetchPollInterval tune River's fetch loop (zero:
	// River's defaults, 100 ms and 1 s). The benchmark and the test clock's
	// tests lower them.
	FetchCooldown     time.Duration
	FetchPollInterval time.Duration
}

// NewClient returns a River client over pool (riverpgxv5). It is not
// started: a worker process calls Start on a context that signals do not
// cancel, and Stop for a graceful drain (STYLE.md).
func NewClient(pool *pgxpool.Pool, cfg ClientConfig) (*Client, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	rc := &river.Config{
		Logger:            cfg.Logger,
		FetchCooldown:     cfg.FetchCooldown,
		FetchPollInterval: cfg.FetchPollInterval,
		// Jobs that do business are retried for a long time (the default
		// 25 attempts span about three weeks): a charge or an email must
		// not be dropped because Stripe or the mail relay was down for a day.
		MaxAttempts: river.MaxAttemptsDefault,
		// Every process inserts every kind: a reactor in a process without
		// Stripe (or SMTP) configured still enqueues the charge (or the
		// email) for the worker process that has it.
		SkipUnknownJobCheck: true,
	}
	if cfg.Workers != nil {
		if cfg.MaxWorkers <= 0 {
			cfg.MaxWorkers = 100
		}
		rc.Workers = cfg.Workers
		rc.Queues = map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.MaxWorkers}}
		if cfg.DueWorkInterval == 0 {
			cfg.DueWorkInterval = time.Minute
		}
		if cfg.DueWorkInterval > 0 {
			rc.PeriodicJobs = []*river.PeriodicJob{
				river.NewPeriodicJob(
					river.PeriodicInterval(cfg.DueWorkInterval),
					func() (river.JobArgs, *river.InsertOpts) { return DueWorkArgs{}, nil },
					&river.PeriodicJobOpts{RunOnStart: true, ID: KindDueWork},
				),
			}
		}
	}
	c, err := river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		return nil, fmt.Errorf("making the River client: %w", err)
	}
	return c, nil
}

// EnqueueChargeAttempt enqueues the charge_invoice job of attempt number
// attempt of invoice id inside tx, guarded by the charge_attempts primary
// key: the first call for an attempt inserts the guard row and the job and
// returns true; every later one, by whoever (the payment reactor, the due
// work of a scheduled retry, POST /v1/invoices/{id}/retry), inserts nothing
// and returns false. The guard and the job commit or roll back together
// with the caller's tx.
func EnqueueChargeAttempt(ctx context.Context, tx pgx.Tx, jobs JobInserter, id domain.InvoiceID, attempt int) (bool, error) {
	if attempt < 1 {
		return false, fmt.Errorf("enqueuing a charge of %s: attempt %d is not ≥ 1", id, attempt)
	}
	n, err := dbsqlc.New(tx).ChargeAttemptInsert(ctx, dbsqlc.ChargeAttemptInsertParams{InvoiceID: string(id), Attempt: int32(attempt)})
	if err != nil {
		return false, fmt.Errorf("reserving charge attempt %d of %s: %w", attempt, id, err)
	}
	if n == 0 {
		return false, nil
	}
	if _, err := jobs.InsertTx(ctx, tx, ChargeInvoiceArgs{InvoiceID: id, Attempt: attempt}, nil); err != nil {
		return false, fmt.Errorf("enqueuing charge attempt %d of %s: %w", attempt, id, err)
	}
	return true, nil
}

// enqueueShipment enqueues the shipment_due job of one scheduled shipment
// inside tx, guarded by the shipments primary key; false when it was
// enqueued before.
func enqueueShipment(ctx context.Context, tx pgx.Tx, jobs JobInserter, a ShipmentDueArgs) (bool, error) {
	n, err := dbsqlc.New(tx).ShipmentInsert(ctx, dbsqlc.ShipmentInsertParams{
		SubscriptionID: string(a.SubscriptionID), ProductID: string(a.ProductID), DueOn: pgDate(a.DueOn),
	})
	if err != nil {
		return false, fmt.Errorf("reserving the shipment of %s/%s on %s: %w", a.SubscriptionID, a.ProductID, a.DueOn, err)
	}
	if n == 0 {
		return false, nil
	}
	if _, err := jobs.InsertTx(ctx, tx, a, nil); err != nil {
		return false, fmt.Errorf("enqueuing the shipment of %s/%s on %s: %w", a.SubscriptionID, a.ProductID, a.DueOn, err)
	}
	return true, nil
}

// isRefusal reports whether err is the domain refusing a command (a
// *domain.Error: not due, not active, already done...), as opposed to a
// failure worth retrying (the database, the network).
func isRefusal(err error) bool {
	var de *domain.Error
	return errors.As(err, &de)
}
