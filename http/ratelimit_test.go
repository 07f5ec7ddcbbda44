package http

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestRateLimitPerToken(t *testing.T) {
	t.Parallel()
	s := &Server{Tokens: matrixTokens, RateLimit: RateLimit{PerSecond: 0.5, Burst: 3}}
	h := s.Handler()
	call := func(token string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/openapi.json", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	admin, support := tokenOf(RoleAdmin), tokenOf(RoleSupport)
	for range 3 {
		require.Equal(t, http.StatusOK, call(admin).Code)
	}
	rec := call(admin)
	require.Equal(t, http.StatusTooManyRequests, rec.Code)
	require.JSONEq(t, `{"error":{"code":"rate_limited","message":"`+errRateLimited.Message+`"}}`, rec.Body.String())
	retry, err := strconv.Atoi(rec.Header().Get("Retry-After"))
	require.NoError(t, err)
	require.InDelta(t, 2, retry, 1)

	// Another token has its own bucket; unauthenticated requests are 401
	// before they are counted; public routes are not limited.
	require.Equal(t, http.StatusOK, call(support).Code)
	require.Equal(t, http.StatusUnauthorized, call("").Code)
	req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	for range 5 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		require.Equal(t, http.StatusOK, rec.Code)
	}
}

func TestRateLimitDefaults(t *testing.T) {
	t.Parallel()
	l := newLimiters(RateLimit{})
	require.EqualValues(t, DefaultRateLimit.PerSecond, l.limit)
	require.Equal(t, DefaultRateLimit.Burst, l.burst)
	require.False(t, l.off)

	l = newLimiters(RateLimit{PerSecond: 10})
	require.Equal(t, 20, l.burst)
	require.True(t, newLimiters(RateLimit{PerSecond: -1}).off)
}
