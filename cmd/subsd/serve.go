package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/esdb"
	"github.com/subsd/subsd/eventstore/eventrouter"
	"github.com/subsd/subsd/eventstore/postgres"
	"github.com/subsd/subsd/http"
)

// runServe applies migrations and runs the role's parts until ctx is done,
// then drains HTTP. Every role serves health and readiness (the api role
// will add the API), and listens before migrations run, so probes see a live
// but not-yet-ready process instead of a refused connection.
func runServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	role := fs.String("role", "all", "what this process runs: all, api, projector or worker")
	drain := fs.Duration("drain-timeout", http.DefaultDrainTimeout, "how long in-flight requests may finish after SIGINT or SIGTERM")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	switch *role {
	case "all", "api", "projector", "worker":
	default:
		fmt.Fprintf(stderr, "subsd serve: --role must be all, api, projector or worker, not %q\n", *role)
		return errUsage
	}
	if *drain <= 0 {
		fmt.Fprintf(stderr, "subsd serve: --drain-timeout must be positive\n")
		return errUsage
	}

	cfg, err := parseConfig(getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)

	servesAPI := *role == "all" || *role == "api"
	if servesAPI && len(cfg.Tokens) == 0 {
		if !cfg.Dev {
			return errors.New("API_TOKENS is not set, so the API would let no one in: set it to role:token,... " +
				"(or set SUBSD_DEV=1 on a development machine to have tokens generated)")
		}
		// The tokens are printed, not logged: logs are shipped and kept,
		// and these are credentials.
		cfg.Tokens = generateTokens()
		fmt.Fprintf(stdout, "SUBSD_DEV=1 and API_TOKENS unset: generated API tokens for this run "+
			"(export this line to keep them across restarts):\nAPI_TOKENS=%s\n", formatTokens(cfg.Tokens))
	}
	// cfg.Tokens is checked above so that a misconfigured deployment fails
	// now; the API routes that authenticate with them arrive with issue 4.

	pool, err := pgxpool.NewWithConfig(ctx, cfg.Database)
	if err != nil {
		return fmt.Errorf("opening the database pool: %w", err)
	}
	defer pool.Close()

	store, closeStore, err := openEventStore(ctx, cfg, pool, logger)
	if err != nil {
		return err
	}
	defer closeStore()

	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP_ADDR: %w", err)
	}
	logger.Info("listening",
		"addr", ln.Addr().String(),
		"role", *role,
		"database", fmt.Sprintf("%s:%d/%s", cfg.Database.ConnConfig.Host, cfg.Database.ConnConfig.Port, cfg.Database.ConnConfig.Database),
		"event_store", eventStoreKind(cfg),
		"business_time_zone", cfg.BusinessTimeZone.String(),
		"version", version,
	)

	var migrated atomic.Bool
	srv := &http.Server{
		Logger:       logger,
		DrainTimeout: *drain,
		Checks: []http.Check{
			{Name: "database", CheckFunc: pool.Ping},
			{Name: "migrations", CheckFunc: func(context.Context) error {
				if !migrated.Load() {
					return errors.New("migrations not applied yet")
				}
				return nil
			}},
			{Name: "event_store", CheckFunc: store.Ping},
		},
	}
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx, ln) }()

	if err := migrate(ctx, cfg, pool); err != nil {
		stopServing()
		<-served
		if ctx.Err() != nil {
			return nil // stopped while migrating: a clean exit
		}
		return err
	}
	migrated.Store(true)
	logger.Info("migrations applied; ready")

	switch *role {
	case "all":
		logger.Info("serving the API; projections and workers have nothing to run yet (issues 4 and 5)")
	case "api":
		logger.Info("serving the API")
	case "projector":
		logger.Info("projector role: no projections exist yet, nothing to run besides health endpoints (issue 5)")
	case "worker":
		logger.Info("worker role: no workers exist yet, nothing to run besides health endpoints (issue 5)")
	}

	if err := <-served; err != nil {
		return err
	}
	logger.Info("stopped")
	return nil
}

// eventStoreWithPing is what serve needs of an event store adapter: the
// contract, and a readiness probe.
type eventStoreWithPing interface {
	eventstore.Store
	Ping(ctx context.Context) error
}

// openEventStore returns the configured event store and a function that
// releases it. The PostgreSQL store shares pool; EventStoreDB gets its own
// connection, checked before this returns.
func openEventStore(ctx context.Context, cfg Config, pool *pgxpool.Pool, logger *slog.Logger) (eventStoreWithPing, func(), error) {
	if cfg.EventStoreURL == "" {
		return postgres.New(pool), func() {}, nil
	}
	s, err := esdb.New(ctx, cfg.EventStoreURL, esdb.WithLogger(logger))
	if err != nil {
		return nil, nil, fmt.Errorf("EVENTSTORE_URL: connecting to EventStoreDB: %w", err)
	}
	return s, func() { _ = s.Close() }, nil
}

func eventStoreKind(cfg Config) string {
	if cfg.EventStoreURL == "" {
		return "postgres"
	}
	return "eventstoredb"
}

// migrate applies every migration the service needs. The PostgreSQL event
// store's tables exist only when it holds the events; the event router's
// checkpoints live in PostgreSQL beside the read models whichever store holds
// the events, so they are always migrated. Both are idempotent, so serve and
// migrate may run them on every start.
func migrate(ctx context.Context, cfg Config, pool *pgxpool.Pool) error {
	if cfg.EventStoreURL == "" {
		if err := postgres.Migrate(ctx, pool); err != nil {
			return fmt.Errorf("migrating the event store: %w", err)
		}
	}
	if err := eventrouter.Migrate(ctx, pool); err != nil {
		return fmt.Errorf("migrating the event router's checkpoints: %w", err)
	}
	return nil
}

// runMigrate is `subsd migrate`.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	cfg, err := parseConfig(getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)
	pool, err := pgxpool.NewWithConfig(ctx, cfg.Database)
	if err != nil {
		return fmt.Errorf("opening the database pool: %w", err)
	}
	defer pool.Close()
	if err := migrate(ctx, cfg, pool); err != nil {
		return err
	}
	logger.Info("migrations applied", "event_store", eventStoreKind(cfg))
	return nil
}

// newLogger logs JSON, one record a line, for machines; in dev mode it logs
// text for the person at the terminal.
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	if cfg.Dev {
		return slog.New(slog.NewTextHandler(w, nil))
	}
	return slog.New(slog.NewJSONHandler(w, nil))
}
