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
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/mux"
)

// DefaultDrainTimeout is how long Serve lets in-flight requests finish after
// its context is cancelled. It is below Kubernetes' default 30 s grace period
// so the process exits on its own before it is killed.
const DefaultDrainTimeout = 20 * time.Second

// Server serves the API. Set its fields before calling Serve; a Server serves
// once.
type Server struct {
	// Logger receives errors that are not shown to clients. Nil discards.
	Logger *slog.Logger
	// Checks are what /readyz verifies, in order of the response's message.
	Checks []Check
	// DrainTimeout bounds the graceful shutdown; zero means
	// DefaultDrainTimeout.
	DrainTimeout time.Duration
}

// route is one entry of the API's routing table. Every endpoint is a row
// here, so the table is the one place to read what the server answers (and,
// later, what role may call it and what the OpenAPI document lists).
type route struct {
	method  string
	path    string
	handler http.HandlerFunc
}

func (s *Server) routes() []route {
	return []route{
		{http.MethodGet, "/healthz", s.handleHealthz},
		{http.MethodGet, "/readyz", s.handleReadyz},
	}
}

// Handler returns the server's routes as one handler, for Serve and for
// tests that use net/http/httptest.
func (s *Server) Handler() http.Handler {
	r := mux.NewRouter()
	for _, rt := range s.routes() {
		r.Handle(rt.path, rt.handler).Methods(rt.method)
	}
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.writeError(w, req, errNotFound)
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		s.writeError(w, req, errMethodNotAllowed)
	})
	return s.recoverPanics(r)
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
