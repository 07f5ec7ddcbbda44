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
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/subsd/subsd/command"
	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/esdb"
	"github.com/subsd/subsd/eventstore/eventrouter"
	"github.com/subsd/subsd/eventstore/postgres"
	"github.com/subsd/subsd/http"
	"github.com/subsd/subsd/projections"
	"github.com/subsd/subsd/workers"
	"github.com/subsd/subsd/workers/mail"
	"github.com/subsd/subsd/workers/stripe"
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

	pool, err := pgxpool.NewWithConfig(ctx, cfg.Database)
	if err != nil {
		return fmt.Errorf("opening the database pool: %w", err)
	}
	defer pool.Close()

	store, closeStore, err := openStore(ctx, &cfg, pool, logger, stdout)
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
	for i, t := range cfg.Tokens {
		if len(t.Secret) < minTokenLength {
			logger.Warn(fmt.Sprintf("API_TOKENS entry %d (%s): the token is shorter than %d characters, within guessing range", i+1, t.Role, minTokenLength))
		}
	}
	if cfg.Business.Address == (domain.Address{}) {
		logger.Warn("BUSINESS_ADDRESS is not set: invoice PDFs carry no seller address and return labels no return address")
	}

	runsAPI := *role == "all" || *role == "api"
	runsProjector := *role == "all" || *role == "projector"
	// The workers (River's, and the reactors that feed them) run in the
	// worker role; every role can enqueue jobs.
	runsWorkers := *role == "all" || *role == "worker"
	clock := &serviceClock{}

	metrics := http.NewMetrics()
	appendStore := metrics.InstrumentStore(store)
	// Under the test clock every append of this process is tracked, so
	// that an advance waits for the consumers to apply what its jobs
	// appended (see workers.Advancer.Appends).
	var appends *workers.AppendTracker
	if cfg.TestClock {
		appends = workers.TrackAppends(appendStore)
		appendStore = appends
	}
	reader := projections.NewReader(pool,
		projections.WithStore(store),
		projections.WithClock(clock.Now),
		projections.WithLocation(cfg.BusinessTimeZone),
		projections.WithLogger(logger),
	)
	defer reader.Close()
	metrics.SetProjectionLagFunc(func(ctx context.Context) (map[string]int64, error) {
		statuses, err := reader.Statuses(ctx)
		if err != nil {
			return nil, err
		}
		lags := make(map[string]int64, len(statuses))
		for _, st := range statuses {
			if st.Lag >= 0 {
				lags[st.Name] = st.Lag
			}
		}
		return lags, nil
	})

	commands := command.New(command.Deps{
		Store:    appendStore,
		Pool:     pool,
		Clock:    clock.Now,
		Location: cfg.BusinessTimeZone,
		DataKeys: store, // erasure destroys keys in the encrypting store (store.go)
	})
	parts, err := newWorkerParts(cfg, pool, appendStore, clock.Now, logger)
	if err != nil {
		return err
	}
	var jobWorkers *river.Workers
	if runsWorkers {
		jobWorkers = river.NewWorkers()
		workers.AddDueWorkers(jobWorkers, workers.Deps{
			Pool: pool, Store: appendStore, Commands: commands, Clock: clock.Now,
			Location: cfg.BusinessTimeZone, Logger: logger,
		})
		parts.addWorkers(jobWorkers)
	}
	jobs, err := workers.NewClient(pool, workers.ClientConfig{Workers: jobWorkers, Logger: logger})
	if err != nil {
		return err
	}
	if parts.payments != nil {
		parts.payments.Jobs = jobs
	}
	due := workers.NewDueWork(pool, jobs, cfg.BusinessTimeZone, logger)
	testClock := &lazyTestClock{clock: clock}

	// ready is set once this process's part is ready: migrations applied
	// and, where projections run, their read models at this build's
	// version. projecting is whether the projections' router runs.
	var ready, projecting atomic.Bool
	srv := &http.Server{
		Logger:         logger,
		DrainTimeout:   *drain,
		Store:          appendStore,
		Log:            store, // the auditors' endpoints read the store itself (issue 6)
		Pool:           pool,
		Reader:         reader,
		Tokens:         tokenRoles(cfg.Tokens),
		Clock:          clock.Now,
		Location:       cfg.BusinessTimeZone,
		TestClock:      cfg.TestClock,
		Jobs:           jobs,
		Scheduler:      workers.Scheduler{Due: due, Clock: clock.Now},
		Payments:       parts.httpPayments(),
		InvoicePDF:     parts.invoicePDF(),
		RateLimit:      rateLimit(cfg),
		Metrics:        metrics,
		OperationsOnly: !runsAPI,
		Checks: []http.Check{
			{Name: "database", CheckFunc: pool.Ping},
			{Name: "migrations", CheckFunc: func(context.Context) error {
				if !ready.Load() {
					return errors.New("migrations not applied yet")
				}
				return nil
			}},
			{Name: "event_store", CheckFunc: store.Ping},
		},
	}
	var reacting atomic.Bool // whether the reactors' router runs
	if runsWorkers {
		srv.Checks = append(srv.Checks, http.Check{Name: "reactors", CheckFunc: func(context.Context) error {
			if ready.Load() && !reacting.Load() {
				return errors.New("the reactors' router is not running")
			}
			return nil
		}})
	}
	if runsProjector {
		srv.Checks = append(srv.Checks, http.Check{Name: "projections", CheckFunc: func(context.Context) error {
			if ready.Load() && !projecting.Load() {
				return errors.New("the projections' router is not running")
			}
			return nil
		}})
	}
	if cfg.TestClock {
		srv.TestClockControl = testClock
	}
	if runsAPI {
		srv.Commands = commands
		// River's UI at /admin/jobs; its background services run until
		// serve ends.
		ui, err := workers.NewJobsUI(jobs, http.JobsUIPath, logger)
		if err != nil {
			return fmt.Errorf("setting up River's UI: %w", err)
		}
		if err := ui.Start(ctx); err != nil {
			return fmt.Errorf("starting River's UI: %w", err)
		}
		srv.JobsUI = ui
	}
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(serveCtx, ln) }()

	// stopped is a clean exit when ctx ends while starting up.
	stopped := func(err error) error {
		stopServing()
		<-served
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if err := migrate(ctx, cfg, pool); err != nil {
		return stopped(err)
	}
	logger.Info("migrations applied")

	if cfg.TestClock {
		tc, err := workers.OpenTestClock(ctx, pool)
		if err != nil {
			return stopped(err)
		}
		clock.test.Store(tc)
		go tc.Run(ctx, testClockRefresh)
		testClock.advancer.Store(&workers.Advancer{
			Clock: tc, Due: due, Jobs: jobs, Store: store, Pool: pool,
			Consumers: append(projections.Names(), workers.ReactorNames()...), Appends: appends,
		})
		logger.Warn("TEST_CLOCK=1: the service's time is the test clock's", "now", tc.Now().Format(time.RFC3339Nano))
	}

	// The projections run on a context of their own, cancelled once HTTP
	// has drained (or failed).
	routerCtx, stopRouter := context.WithCancel(ctx)
	defer stopRouter()
	routed := make(chan struct{})
	if runsProjector {
		start := time.Now()
		if err := projections.Ensure(ctx, pool, store); err != nil {
			return stopped(fmt.Errorf("bringing the read models to this version: %w", err))
		}
		logger.Info("read models ready", "projections", projections.Names(), "took", time.Since(start).Round(time.Millisecond))
		go func() {
			defer close(routed)
			runConsumers(routerCtx, "projections", func(r *eventrouter.Router) { projections.Register(r) }, pool, store, metrics, logger, &projecting)
		}()
	} else {
		close(routed)
	}
	reacted := make(chan struct{})
	if runsWorkers {
		reactors := &workers.Reactors{
			Store: appendStore, Commands: commands, Jobs: jobs, Clock: clock.Now,
			Location: cfg.BusinessTimeZone, Logger: logger,
		}
		go func() {
			defer close(reacted)
			runConsumers(routerCtx, "reactors", reactors.Register, pool, store, metrics, logger, &reacting)
		}()
		// River runs on a context signals do not cancel: cancelling its
		// start context is a hard stop; Stop below is the graceful drain.
		if err := jobs.Start(context.WithoutCancel(ctx)); err != nil {
			return stopped(fmt.Errorf("starting River: %w", err))
		}
	} else {
		close(reacted)
	}
	ready.Store(true)

	// One "ready" record says what this process runs.
	runs := map[string]string{
		"all":       "the API, the projections, the reactors and River's workers",
		"api":       "the API",
		"projector": "the projections; HTTP serves health, readiness and metrics only",
		"worker":    "the reactors and River's workers; HTTP serves health, readiness and metrics only",
	}[*role]
	logger.Info("ready", "role", *role, "runs", runs)

	// HTTP runs until ctx ends (then drains) or fails; the projections
	// stop after it.
	serveErr := <-served
	stopRouter()
	<-routed
	<-reacted
	if runsWorkers {
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), riverStopTimeout)
		if err := jobs.Stop(stopCtx); err != nil {
			logger.Warn("River did not drain in time; its running jobs were cancelled and will be retried", "err", err)
		}
		cancel()
	}
	if serveErr != nil {
		return serveErr
	}
	logger.Info("stopped")
	return nil
}

// Restart pauses of runProjections.
const (
	projectorMinBackoff = time.Second
	projectorMaxBackoff = 30 * time.Second
)

// runConsumers runs the consumers register adds (the projections, or the
// reactors) on an event router until ctx is done. A router that stops on its own (the database went away, say) is
// replaced by a new one after a pause that doubles up to
// projectorMaxBackoff, so a database outage pauses the read models instead
// of ending the process; running tells readiness whether a router runs.
// Stopping a router anywhere is safe: each event's effects and checkpoint
// commit together.
func runConsumers(ctx context.Context, what string, register func(*eventrouter.Router), pool *pgxpool.Pool, store eventstore.Store, metrics *http.Metrics, logger *slog.Logger, running *atomic.Bool) {
	backoff := projectorMinBackoff
	for {
		router, err := eventrouter.NewRouter(pool, store, eventrouter.Config{
			Logger:      logger,
			ObserveFunc: metrics.ObserveProjection,
			// Transactions end with ctx at once; this bounds Watermill's
			// wait for handlers that were still starting.
			CloseTimeout: 5 * time.Second,
		})
		if err == nil {
			register(router)
			started := time.Now()
			running.Store(true)
			err = router.Run(ctx)
			running.Store(false)
			if time.Since(started) > time.Minute {
				backoff = projectorMinBackoff
			}
		}
		if ctx.Err() != nil {
			if err != nil {
				logger.Warn(what+" stopped uncleanly at shutdown", "err", err)
			}
			return
		}
		logger.Error(what+" stopped; restarting", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, projectorMaxBackoff)
	}
}

// tokenRoles turns the configured tokens into the HTTP server's table.
func tokenRoles(tokens []Token) map[string]http.Role {
	m := make(map[string]http.Role, len(tokens))
	for _, t := range tokens {
		m[t.Secret] = http.Role(t.Role)
	}
	return m
}

// rateLimit turns RATE_LIMIT_RPS and RATE_LIMIT_BURST into the server's
// setting; RATE_LIMIT_RPS=0 turns it off.
func rateLimit(cfg Config) http.RateLimit {
	if cfg.RateLimitRPS == 0 {
		return http.RateLimit{PerSecond: -1}
	}
	return http.RateLimit{PerSecond: cfg.RateLimitRPS, Burst: cfg.RateLimitBurst}
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
// checkpoints, the HTTP idempotency keys, the command package's number
// series and the projections' registry live in PostgreSQL whichever store
// holds the events, so they are always migrated. All are idempotent, so
// serve and migrate may run them on every start. (Read models themselves
// are not migrated: a projection whose version changed is rebuilt by
// projections.Ensure when a projector starts.)
func migrate(ctx context.Context, cfg Config, pool *pgxpool.Pool) error {
	if cfg.EventStoreURL == "" {
		if err := postgres.Migrate(ctx, pool); err != nil {
			return fmt.Errorf("migrating the event store: %w", err)
		}
	}
	if err := eventrouter.Migrate(ctx, pool); err != nil {
		return fmt.Errorf("migrating the event router's checkpoints: %w", err)
	}
	if err := migrateDataKeys(ctx, cfg, pool); err != nil {
		return err
	}
	if err := http.Migrate(ctx, pool); err != nil {
		return fmt.Errorf("migrating the idempotency keys: %w", err)
	}
	if err := command.Migrate(ctx, pool); err != nil {
		return fmt.Errorf("migrating the number series: %w", err)
	}
	if err := projections.Migrate(ctx, pool); err != nil {
		return fmt.Errorf("migrating the projections' registry: %w", err)
	}
	if err := workers.Migrate(ctx, pool); err != nil {
		return fmt.Errorf("migrating River and the workers' tables: %w", err)
	}
	if err := stripe.Migrate(ctx, pool); err != nil {
		return fmt.Errorf("migrating the Stripe webhook inbox: %w", err)
	}
	if err := mail.Migrate(ctx, pool); err != nil {
		return fmt.Errorf("migrating the mail delivery ledger: %w", err)
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
