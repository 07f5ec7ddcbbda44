// Package http is the service's HTTP API: routing, JSON encoding and the
// mapping of application errors to status codes. It holds no business rules.
//
// The package is named http, after its folder and after the outside
// dependency it adapts (benbjohnson/wtf does the same with http/ and
// sqlite/). Inside it, net/http is imported under its own name (a package's
// name is not in its own scope, so there is no clash). Callers rarely need
// both: cmd/subsd imports only this one; a file that needs both imports this
// one as subsdhttp.
package http

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/subsd/subsd/command"
	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/projections"
	"github.com/subsd/subsd/workers"
)

// DefaultDrainTimeout is how long Serve lets in-flight requests finish after
// its context is cancelled. It is below Kubernetes' default 30 s grace period
// so the process exits on its own before it is killed.
const DefaultDrainTimeout = 20 * time.Second

// Server serves the API. Set its fields before calling Serve or Handler; a
// Server serves once, and its fields must not change afterwards.
type Server struct {
	// Logger receives errors that are not shown to clients. Nil discards.
	Logger *slog.Logger
	// Checks are what /readyz verifies, in order of the response's message.
	Checks []Check
	// DrainTimeout bounds the graceful shutdown; zero means
	// DefaultDrainTimeout.
	DrainTimeout time.Duration

	// Store is the event log (commands append to it through Commands).
	Store eventstore.Store
	// Log is the event store the auditors' endpoints read (GET /v1/events,
	// /v1/streams/{stream}, a customer's history and ?as_of=): the store
	// itself, without Store's append instrumentation, so that its optional
	// eventstore.FilteredReader is found. Nil means Store.
	Log eventstore.Store
	// Pool is the PostgreSQL pool of the idempotency keys (and of the read
	// models, through Reader). Without it, Idempotency-Key is not honoured.
	Pool *pgxpool.Pool
	// Reader reads the read models (the handlers' GETs) and waits for them
	// to catch up (X-Min-Position).
	Reader *projections.Reader
	// Commands runs the application's use cases (the handlers' writes).
	Commands *command.Service
	// InvoicePDF renders GET /v1/invoices/{id}/pdf (workers/pdf); without
	// it that route answers 501.
	InvoicePDF InvoicePDFRenderer
	// Tokens maps each bearer token to its role. A request to a non-public
	// route without a token in Tokens is 401.
	Tokens map[string]Role
	// Clock is the service's notion of now (a test clock may move it); nil
	// means time.Now.
	Clock func() time.Time
	// Location is the business time zone; nil means UTC.
	Location *time.Location
	// TestClock enables the /v1/test-clock routes; without it they are 404.
	TestClock bool
	// TestClockControl reads and advances the test clock (the
	// /v1/test-clock routes); required with TestClock.
	TestClockControl TestClockControl
	// Scheduler enqueues due shipments (POST /v1/scheduler/shipments).
	Scheduler ShipmentScheduler
	// Jobs is the River client handlers enqueue jobs through, inside their
	// own transactions (workers.EnqueueChargeAttempt, InsertTx).
	Jobs *workers.Client
	// Payments takes money through Stripe: the Stripe webhook and the
	// invoices' retry and refund. Nil (Stripe not configured) answers those
	// routes 503 stripe_not_configured.
	Payments Payments
	// OperationsOnly serves /healthz, /readyz and /metrics only: the HTTP
	// of a process that runs projections or workers but not the API. The
	// API's dependencies (Store, Reader, Commands) may then be nil.
	OperationsOnly bool
	// RateLimit bounds each token's request rate; the zero value means
	// DefaultRateLimit.
	RateLimit RateLimit
	// Metrics collects the request metrics and serves /metrics; nil means a
	// NewMetrics of the Server's own.
	Metrics *Metrics
	// JobsUI is River's web UI (workers.NewJobsUI with prefix JobsUIPath),
	// mounted at JobsUIPath for admins; nil leaves that path 404.
	JobsUI http.Handler

	// Set up by Handler.
	once     sync.Once
	tokens   []tokenEntry
	limiters *limiters
	idem     *idempotencyStore
	// waiter replaces Reader in waitMinPosition, and minPositionWait its
	// timeout (tests).
	waiter          positionWaiter
	minPositionWait time.Duration
}

// maxBodyBytes bounds every request body (API.md: a body over 1 MiB is
// rejected with 400 body_too_large).
const maxBodyBytes = 1 << 20

// Handler returns the server's routes as one handler, for Serve and for
// tests that use net/http/httptest. Each route runs, in order: request id
// and metrics, panic recovery, routing (404, 405), authentication (401),
// the role check (403), the token's rate limit (429), the Idempotency-Key
// for writes, and the route's handler.
func (s *Server) Handler() http.Handler {
	s.once.Do(s.init)
	r := mux.NewRouter()
	routes := s.routes()
	for i := range routes {
		rt := &routes[i]
		if (rt.testClock && !s.TestClock) || (s.OperationsOnly && !rt.operations) {
			continue
		}
		r.Handle(rt.path, s.routeHandler(rt)).Methods(rt.method)
	}
	if s.JobsUI != nil && !s.OperationsOnly {
		r.PathPrefix(JobsUIPath).Handler(s.jobsUI())
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.writeError(w, req, errNotFound)
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Allow", strings.Join(allowedMethods(r, req), ", "))
		s.writeError(w, req, errMethodNotAllowed)
	})
	return s.observe(s.recoverPanics(r))
}

// allowedMethods lists the methods router has a route for at req's path,
// for a 405's Allow header.
func allowedMethods(router *mux.Router, req *http.Request) []string {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := req.Clone(req.Context())
		probe.Method = m
		var match mux.RouteMatch
		if router.Match(probe, &match) && match.MatchErr == nil {
			allowed = append(allowed, m)
		}
	}
	return allowed
}

func (s *Server) init() {
	s.tokens = make([]tokenEntry, 0, len(s.Tokens))
	for token, role := range s.Tokens {
		s.tokens = append(s.tokens, tokenEntry{secret: []byte(token), role: role})
	}
	s.limiters = newLimiters(s.RateLimit)
	if s.Metrics == nil {
		s.Metrics = NewMetrics()
	}
	if s.Pool != nil {
		s.idem = newIdempotencyStore(s.Pool)
	}
}

// routeHandler wraps rt's handler in the middleware its row asks for.
func (s *Server) routeHandler(rt *route) http.Handler {
	h := http.Handler(rt.handler)
	if isWrite(rt.method) {
		h = s.idempotent(h)
	}
	if !rt.public {
		h = s.authorize(rt, s.rateLimit(h))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info(r.Context()).route = rt
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		h.ServeHTTP(w, r)
	})
}

func isWrite(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// Serve answers requests on ln until ctx is cancelled, then stops accepting
// connections and waits up to DrainTimeout for in-flight requests. It returns
// nil after a complete drain, an error if the drain timed out (the remaining
// connections are closed) or if serving failed. Serve closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		// Requests see a context that outlives ctx, so a request in flight
		// at shutdown is drained rather than cancelled.
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
		ErrorLog:    slog.NewLogLogger(s.logger().Handler(), slog.LevelWarn),
	}

	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
	}

	drain := s.DrainTimeout
	if drain == 0 {
		drain = DefaultDrainTimeout
	}
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
	defer cancel()
	if err := hs.Shutdown(drainCtx); err != nil {
		_ = hs.Close()
		return fmt.Errorf("draining HTTP connections: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving HTTP: %w", err)
	}
	return nil
}

// now is the service's notion of the current time.
func (s *Server) now() time.Time {
	if s.Clock != nil {
		return s.Clock()
	}
	return time.Now()
}

func (s *Server) logger() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

// recoverPanics turns a panicking handler into a 500 with the usual error
// body, instead of net/http's dropped connection.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.writeError(w, r, fmt.Errorf("panic: %v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// requestInfo is what the middleware learns about a request, shared down the
// chain through the request's context (and up again: observe reads the
// route that routing found). One goroutine serves a request, so it needs no
// lock.
type requestInfo struct {
	id    string
	route *route
	// role and token are set once the token is authenticated.
	role  Role
	token string
	// idempotencyKey is set by idempotent (see idempotencyKey).
	idempotencyKey string
}

type infoKey struct{}

// info returns the request's info; a context that did not pass through
// Handler gets an empty one.
func info(ctx context.Context) *requestInfo {
	if ri, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return ri
	}
	return &requestInfo{}
}

// requestID returns the id of the request (the client's X-Request-Id, or
// one the server generated), which is also the correlation id of the events
// it appends.
func requestID(ctx context.Context) string {
	return info(ctx).id
}

// metadata returns the metadata of events appended for r: the caller's
// actor, the request id as correlation id, and the service's now.
func (s *Server) metadata(r *http.Request) eventstore.Metadata {
	return eventstore.Metadata{
		Actor:         actorFrom(r.Context()),
		CorrelationID: requestID(r.Context()),
		OccurredAt:    s.now(),
	}
}

// maxRequestIDLen bounds a client's X-Request-Id; a longer or oddly
// shaped one is replaced, since it ends up in logs and every event's
// metadata.
const maxRequestIDLen = 128

// validRequestID reports whether a client's X-Request-Id is kept: 1 to 128
// printable ASCII characters without spaces.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// newRequestID returns a random request id: "req_" and 26 base32 characters.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "req_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}
