package http

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/eventrouter"
)

// Metrics is the service's Prometheus registry and the collectors the HTTP
// layer feeds: requests by route template, projection lag (fed by the event
// router and, at scrape time, by a lag function) and event store append
// latency (fed by InstrumentStore). Its methods are safe for concurrent use.
type Metrics struct {
	registry *prometheus.Registry

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	appendDuration  *prometheus.HistogramVec
	lagSeconds      *prometheus.GaugeVec
	consumed        *prometheus.CounterVec
	lagEvents       *lagCollector
}

// NewMetrics returns a Metrics with its own registry, holding its collectors
// and the Go runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests answered, by route template, method and status.",
		}, []string{"route", "method", "status"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route template and method.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "method"}),
		appendDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "eventstore_append_duration_seconds",
			Help:    "Time to append to the event store, by outcome (ok, conflict, error).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"outcome"}),
		lagSeconds: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "projection_lag_seconds",
			Help: "Time from an event's recording to its projection applying it, for the projection's latest event.",
		}, []string{"projection"}),
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "projection_events_total",
			Help: "Events a projection is done with, by outcome (applied, poisoned).",
		}, []string{"projection", "outcome"}),
		lagEvents: &lagCollector{desc: prometheus.NewDesc(
			"projection_lag_events",
			"Events in the store that a projection has not applied yet.",
			[]string{"projection"}, nil,
		)},
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.requestDuration, m.appendDuration, m.lagSeconds, m.consumed, m.lagEvents,
	)
	return m
}

// Registry returns the registry, for collectors of other packages.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// ObserveProjection is an eventrouter.Config.ObserveFunc: it records each
// event a projection is done with.
func (m *Metrics) ObserveProjection(o eventrouter.Observation) {
	m.lagSeconds.WithLabelValues(o.Consumer).Set(o.Lag.Seconds())
	outcome := "applied"
	if o.Poisoned {
		outcome = "poisoned"
	}
	m.consumed.WithLabelValues(o.Consumer, outcome).Inc()
}

// SetProjectionLagFunc sets the function that projection_lag_events calls at
// every scrape: each projection's name and how many events it is behind the
// store's head. A failing call reports no lag samples (and is otherwise
// ignored: the scrape must not fail for it).
func (m *Metrics) SetProjectionLagFunc(f func(ctx context.Context) (map[string]int64, error)) {
	m.lagEvents.set(f)
}

// InstrumentStore returns store with its appends timed into
// eventstore_append_duration_seconds.
func (m *Metrics) InstrumentStore(store eventstore.Store) eventstore.Store {
	return instrumentedStore{Store: store, duration: m.appendDuration}
}

type instrumentedStore struct {
	eventstore.Store
	duration *prometheus.HistogramVec
}

func (s instrumentedStore) Append(ctx context.Context, stream string, expected eventstore.ExpectedVersion, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	start := time.Now()
	res, err := s.Store.Append(ctx, stream, expected, events...)
	outcome := "ok"
	switch {
	case errors.Is(err, eventstore.ErrWrongExpectedVersion):
		outcome = "conflict"
	case err != nil:
		outcome = "error"
	}
	s.duration.WithLabelValues(outcome).Observe(time.Since(start).Seconds())
	return res, err
}

// lagCollector asks, at scrape time, how far behind each projection is.
type lagCollector struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	f    func(ctx context.Context) (map[string]int64, error)
}

func (c *lagCollector) set(f func(ctx context.Context) (map[string]int64, error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.f = f
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	f := c.f
	c.mu.Unlock()
	if f == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	lags, err := f(ctx)
	if err != nil {
		return
	}
	for name, lag := range lags {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(lag), name)
	}
}

// handleMetrics serves the registry in Prometheus' text format.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	promhttp.HandlerFor(s.Metrics.registry, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

// methodLabel bounds the method label to the methods the API knows, so a
// client cannot grow the metric's cardinality with made-up methods.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}

// observe is the outermost middleware: it gives the request its id
// (X-Request-Id, in and out) and its info, and records the request's
// metrics by the route template that routing found ("unmatched" for 404s
// and 405s), never by the concrete path.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set("X-Request-Id", id)
		ri := &requestInfo{id: id}
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, ri))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)

		route := "unmatched"
		if ri.route != nil {
			route = ri.route.path
		}
		method := methodLabel(r.Method)
		s.Metrics.requests.WithLabelValues(route, method, strconv.Itoa(sw.code())).Inc()
		s.Metrics.requestDuration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
	})
}

// statusWriter remembers the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
