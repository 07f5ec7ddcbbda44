// Package eventrouter feeds the event store's ordered subscription into a
// Watermill router, so that projections and reactors run as router handlers
// with Watermill's middleware, while durability and order stay with the event
// store and each consumer's checkpoint in PostgreSQL.
//
// A consumer is a name and an ApplyFunc. For each consumer the Router
// subscribes to the store after the consumer's checkpoint (Subscriber), hands
// each event to a Watermill handler one at a time, and applies it in a
// transaction that also moves the checkpoint (Handler): the consumer's effects
// and its checkpoint commit together, so an event's effects are committed
// exactly once however often it is delivered.
//
// Around each consumer's handler, outermost first: an observer
// (Config.ObserveFunc, the metrics hook), Watermill's correlation id
// middleware (the message carries the event's correlation id under
// Watermill's key, so any message a handler produces inherits it), the poison
// handler, Watermill's retry with bounded exponential backoff, and Watermill's
// recoverer (a panic is an error like any other: retried, then poisoned).
//
// Several processes may run the same consumer: their handlers serialise on
// the consumer's checkpoint row and skip what another already applied, so
// effects stay exactly once (the work is done twice, the writes once). Keep
// an ApplyFunc short and free of outside calls (enqueue River jobs with
// InsertTx instead): its transaction holds the checkpoint lock, and, with the
// PostgreSQL store, any open transaction holds back every subscriber's view
// of new events until it ends.
//
// Poisoned events: when an event still fails after every retry, the Router
// gives up on it for that consumer. In one transaction it records the event
// (id, stream, version, position, type), the error and the consumer in
// consumer_poisoned_events and moves the consumer's checkpoint past the event;
// then the consumer goes on with the next event. The poisoned event's effects
// were rolled back with each failed attempt, so it has been applied zero
// times, and the checkpoint guarantees it is not retried on restart either.
// Replaying it (after a fix) is a deliberate act: applying it by hand, or
// rebuilding the consumer from Start. If recording the poison itself fails
// (the database is down), nothing is recorded, the message is nacked, and the
// Subscriber delivers the same event again after its NackDelay, so the
// consumer neither skips the event nor re-applies anything. A failure caused
// by shutdown (the message's context is done) is never poisoned.
package eventrouter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/subsd/subsd/eventstore"
)

// Config configures a Router. Zero values take the defaults.
type Config struct {
	// Logger receives the router's and Watermill's logs (default
	// slog.Default()).
	Logger *slog.Logger
	// MaxRetries is how many times a failing event is retried before it is
	// poisoned (default 5).
	MaxRetries int
	// RetryInitialInterval is the pause before the first retry (default
	// 100ms); each next pause doubles, up to RetryMaxInterval (default 10s),
	// with ±20% jitter.
	RetryInitialInterval time.Duration
	RetryMaxInterval     time.Duration
	// NackDelay is the pause before an event whose poisoning could not be
	// recorded is delivered again (default 1s).
	NackDelay time.Duration
	// CloseTimeout is how long Run waits, once ctx is done, for the events
	// being handled (default 30s). Their transactions are cancelled with ctx,
	// so they normally end at once.
	CloseTimeout time.Duration
	// ObserveFunc, if set, is called once for every event a consumer is done
	// with (applied, skipped as already applied, or poisoned), from the
	// consumer's goroutine, so it must be quick and safe for concurrent use
	// across consumers. It is the hook for metrics.
	ObserveFunc func(Observation)
}

// Observation describes an event a consumer is done with.
type Observation struct {
	Consumer string
	// Position is the event's: after it, the consumer's checkpoint.
	Position eventstore.Position
	// Lag is the time from when the store recorded the event to when the
	// consumer was done with it (by this process's clock against the
	// store's, so skew shows in it).
	Lag time.Duration
	// Duration is the time spent on the event, retries included.
	Duration time.Duration
	// Poisoned is true if the consumer gave up on the event.
	Poisoned bool
}

// Router runs consumers: each is a Watermill handler fed by the event store
// (see the package comment). Add consumers with AddConsumer, then call Run.
type Router struct {
	pool       *pgxpool.Pool
	store      eventstore.Store
	cfg        Config
	logger     watermill.LoggerAdapter
	router     *message.Router
	subscriber *Subscriber

	mu        sync.Mutex
	started   bool
	consumers map[string]bool
}

// NewRouter returns a Router whose consumers read store and keep their
// checkpoints, and write their effects, in pool. The checkpoint tables must
// exist (see Migrate).
func NewRouter(pool *pgxpool.Pool, store eventstore.Store, cfg Config) (*Router, error) {
	if pool == nil || store == nil {
		return nil, errors.New("eventrouter: NewRouter needs a pool and a store")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 5
	}
	if cfg.RetryInitialInterval <= 0 {
		cfg.RetryInitialInterval = 100 * time.Millisecond
	}
	if cfg.RetryMaxInterval <= 0 {
		cfg.RetryMaxInterval = 10 * time.Second
	}
	if cfg.NackDelay <= 0 {
		cfg.NackDelay = time.Second
	}
	if cfg.CloseTimeout <= 0 {
		cfg.CloseTimeout = 30 * time.Second
	}
	logger := watermill.NewSlogLogger(cfg.Logger)

	router, err := message.NewRouter(message.RouterConfig{CloseTimeout: cfg.CloseTimeout}, logger)
	if err != nil {
		return nil, fmt.Errorf("eventrouter: %w", err)
	}
	sub, err := NewSubscriber(store, SubscriberConfig{
		CheckpointFunc: func(ctx context.Context, consumer string) (eventstore.Position, error) {
			return Checkpoint(ctx, pool, consumer)
		},
		NackDelay: cfg.NackDelay,
		Logger:    cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	return &Router{
		pool:       pool,
		store:      store,
		cfg:        cfg,
		logger:     logger,
		router:     router,
		subscriber: sub,
		consumers:  map[string]bool{},
	}, nil
}

// Store returns the event store the router's consumers read, for
// consumers that read more of it than the events they are handed (the read
// models read an erased customer's history again).
func (r *Router) Store() eventstore.Store { return r.store }

// AddConsumer registers a consumer: apply is called for every event after the
// consumer's checkpoint, as Handler describes, with the middleware of the
// package comment around it. name is the consumer's stable identity (its
// checkpoint row); renaming a consumer makes it start again from Start.
//
// AddConsumer must be called before Run; it panics if name is empty or
// already registered, or if Run has started (wiring errors, as with
// http.ServeMux).
func (r *Router) AddConsumer(name string, apply ApplyFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.started:
		panic("eventrouter: AddConsumer after Run")
	case name == "":
		panic("eventrouter: AddConsumer with an empty name")
	case r.consumers[name]:
		panic(fmt.Sprintf("eventrouter: consumer %q added twice", name))
	}
	r.consumers[name] = true

	h := r.router.AddConsumerHandler(name, name, r.subscriber, Handler(r.pool, name, apply))
	if r.cfg.ObserveFunc != nil {
		h.AddMiddleware(observe(name, r.cfg.ObserveFunc))
	}
	h.AddMiddleware(
		middleware.CorrelationID,
		r.poison(name),
		middleware.Retry{
			MaxRetries:          r.cfg.MaxRetries,
			InitialInterval:     r.cfg.RetryInitialInterval,
			MaxInterval:         r.cfg.RetryMaxInterval,
			Multiplier:          2,
			RandomizationFactor: 0.2,
			ResetContextOnRetry: true,
			Logger:              r.logger,
		}.Middleware,
		middleware.Recoverer,
	)
}

// Run runs every consumer until ctx is done, then stops them, waiting up to
// CloseTimeout for the events being handled, and returns nil (or the error of
// a stop that timed out). It returns an error at once if the consumers cannot
// start, for example when their checkpoints cannot be read. Run may be called
// once.
func (r *Router) Run(ctx context.Context) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return errors.New("eventrouter: Run called twice")
	}
	r.started = true
	r.mu.Unlock()
	defer r.subscriber.Close()

	// Watermill's router cannot be closed cleanly once one of its handlers
	// has failed to start (it waits for that handler forever, up to its
	// close timeout), so the likely cause, an unreadable checkpoint table,
	// is checked first.
	if _, err := Checkpoints(ctx, r.pool); err != nil {
		return fmt.Errorf("eventrouter: starting consumers: %w", err)
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- r.router.Run(runCtx) }()

	select {
	case err := <-ran:
		if err == nil {
			err = errors.New("every consumer stopped")
		}
		return fmt.Errorf("eventrouter: %w", err)
	case <-ctx.Done():
		closeErr := r.router.Close()
		return errors.Join(<-ran, closeErr)
	}
}

// poison is the middleware that gives up on an event that failed every retry:
// see the package comment.
func (r *Router) poison(consumer string) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			produced, err := h(msg)
			ctx := msg.Context()
			if err == nil || ctx.Err() != nil {
				return produced, err
			}
			e, decodeErr := EventFromMessage(msg)
			if decodeErr != nil {
				return nil, errors.Join(err, decodeErr)
			}
			if recErr := recordPoisoned(ctx, r.pool, consumer, e, err); recErr != nil {
				return nil, errors.Join(err, fmt.Errorf("poisoning the event: %w", recErr))
			}
			r.cfg.Logger.ErrorContext(ctx, "eventrouter: consumer gave up on an event",
				"consumer", consumer, "event_id", e.ID, "stream", e.StreamID, "version", e.Version,
				"position", e.Position.String(), "type", e.Type, "correlation_id", e.Metadata.CorrelationID, "error", err)
			msg.Metadata.Set(middleware.ReasonForPoisonedKey, err.Error())
			return nil, nil
		}
	}
}

// observe is the middleware that reports each finished event to f.
func observe(consumer string, f func(Observation)) message.HandlerMiddleware {
	return func(h message.HandlerFunc) message.HandlerFunc {
		return func(msg *message.Message) ([]*message.Message, error) {
			start := time.Now()
			produced, err := h(msg)
			if err != nil {
				return produced, err
			}
			o := Observation{
				Consumer: consumer,
				Duration: time.Since(start),
				Poisoned: msg.Metadata.Get(middleware.ReasonForPoisonedKey) != "",
			}
			o.Position, _ = eventstore.ParsePosition(msg.Metadata.Get(MetadataPosition))
			if at, err := parseTime(msg.Metadata.Get(MetadataRecordedAt)); err == nil && !at.IsZero() {
				o.Lag = time.Since(at)
			}
			f(o)
			return produced, nil
		}
	}
}
