package http

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/eventrouter"
)

type fakeStore struct {
	eventstore.Store
	err error
}

func (f fakeStore) Append(context.Context, string, eventstore.ExpectedVersion, ...eventstore.EventData) (eventstore.AppendResult, error) {
	return eventstore.AppendResult{Version: 1}, f.err
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	m := NewMetrics()
	s := &Server{Tokens: matrixTokens, Metrics: m, RateLimit: RateLimit{PerSecond: -1}}
	h := s.Handler()
	do := func(method, path, token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	do(http.MethodGet, "/v1/streams/customer-cus_123", tokenOf(RoleAuditor))
	do(http.MethodGet, "/v1/streams/customer-cus_456", "")
	do(http.MethodGet, "/v1/does-not-exist/cus_789", "")
	do("BREW", "/v1/customers", "")

	m.ObserveProjection(eventrouter.Observation{Consumer: "customer_detail", Lag: 250 * time.Millisecond})
	m.SetProjectionLagFunc(func(context.Context) (map[string]int64, error) {
		return map[string]int64{"customer_detail": 7}, nil
	})
	store := m.InstrumentStore(fakeStore{})
	_, err := store.Append(t.Context(), "s", eventstore.Any{})
	require.NoError(t, err)
	_, _ = m.InstrumentStore(fakeStore{err: eventstore.ErrWrongExpectedVersion}).Append(t.Context(), "s", eventstore.Any{})

	require.Equal(t, http.StatusForbidden, do(http.MethodGet, "/metrics", tokenOf(RoleSupport)).Code)
	rec := do(http.MethodGet, "/metrics", tokenOf(RoleAuditor))
	require.Equal(t, http.StatusOK, rec.Code)
	body, _ := io.ReadAll(rec.Body)
	text := string(body)
	for _, want := range []string{
		`http_requests_total{method="GET",route="/v1/streams/{stream}",status="503"} 1`, // no event store
		`http_requests_total{method="GET",route="/v1/streams/{stream}",status="401"} 1`,
		`http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`http_requests_total{method="other",route="unmatched",status="405"} 1`,
		`http_request_duration_seconds_bucket{method="GET",route="/v1/streams/{stream}",le="+Inf"} 2`,
		`projection_lag_seconds{projection="customer_detail"} 0.25`,
		`projection_events_total{outcome="applied",projection="customer_detail"} 1`,
		`projection_lag_events{projection="customer_detail"} 7`,
		`eventstore_append_duration_seconds_count{outcome="ok"} 1`,
		`eventstore_append_duration_seconds_count{outcome="conflict"} 1`,
		`go_goroutines`,
	} {
		require.Contains(t, text, want)
	}
	for _, id := range []string{"cus_123", "cus_456", "cus_789"} {
		require.NotContains(t, text, id, "ids never become label values")
	}
	require.False(t, strings.Contains(text, "BREW"))
}
