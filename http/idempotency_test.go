package http

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/postgres/pgtest"
)

type idemBundle struct {
	server  *Server
	pool    *pgxpool.Pool
	handler http.Handler
	calls   atomic.Int64
	// next answers the requests that get through; set before use.
	next http.HandlerFunc
}

// setupIdempotency returns a Server on a fresh database whose only handler
// is next behind the idempotency middleware. The caller's token is taken
// from X-Test-Token, standing in for authentication.
func setupIdempotency(t *testing.T) *idemBundle {
	t.Helper()
	pool := pgtest.NewPool(t)
	require.NoError(t, Migrate(t.Context(), pool))
	b := &idemBundle{server: &Server{Pool: pool}, pool: pool}
	b.server.once.Do(b.server.init)
	b.next = func(w http.ResponseWriter, r *http.Request) {
		var v map[string]any
		if err := decodeJSON(w, r, &v); err != nil {
			b.server.writeError(w, r, err)
			return
		}
		n := b.calls.Add(1)
		w.Header().Set("Location", "/v1/customers/cus_"+string(rune('0'+n)))
		b.server.writeCommandResult(w, r, http.StatusCreated, map[string]any{"call": n, "got": v}, eventstore.Position{Major: 7, Minor: uint64(n)})
	}
	inner := b.server.idempotent(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { b.next(w, r) }))
	b.handler = b.server.observe(b.server.recoverPanics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info(r.Context()).token = r.Header.Get("X-Test-Token")
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		inner.ServeHTTP(w, r)
	})))
	return b
}

func (b *idemBundle) do(t *testing.T, method, path, key, token, body string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	req.Header.Set("X-Test-Token", token)
	rec := httptest.NewRecorder()
	b.handler.ServeHTTP(rec, req)
	return rec
}

func errorCode(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var body errorResponse
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	return body.Error.Code
}

func TestIdempotencyReplaysTheFirstResponse(t *testing.T) {
	t.Parallel()
	b := setupIdempotency(t)

	first := b.do(t, http.MethodPost, "/v1/customers", "k1", "tok-a", `{"name":"Ann","tags":[1,2]}`)
	require.Equal(t, http.StatusCreated, first.Code)
	require.Empty(t, first.Header().Get("Idempotent-Replayed"))

	// The same request, re-serialised: another key order and spacing.
	again := b.do(t, http.MethodPost, "/v1/customers", "k1", "tok-a", "{ \"tags\": [1, 2],\n \"name\": \"Ann\" }")
	require.Equal(t, http.StatusCreated, again.Code)
	require.Equal(t, "true", again.Header().Get("Idempotent-Replayed"))
	require.Equal(t, first.Body.String(), again.Body.String())
	for _, h := range []string{"Content-Type", "Location", "X-Event-Position"} {
		require.NotEmpty(t, first.Header().Get(h), h)
		require.Equal(t, first.Header().Get(h), again.Header().Get(h), h)
	}
	require.NotEqual(t, first.Header().Get("X-Request-Id"), again.Header().Get("X-Request-Id"))
	require.EqualValues(t, 1, b.calls.Load())
}

func TestIdempotencyKeyReusedWithAnotherRequest(t *testing.T) {
	t.Parallel()
	b := setupIdempotency(t)
	require.Equal(t, http.StatusCreated, b.do(t, http.MethodPost, "/v1/customers", "k1", "tok-a", `{"name":"Ann"}`).Code)

	rec := b.do(t, http.MethodPost, "/v1/customers", "k1", "tok-a", `{"name":"Bob"}`)
	require.Equal(t, http.StatusConflict, rec.Code)
	require.Equal(t, "idempotency_key_reused", errorCode(t, rec))

	rec = b.do(t, http.MethodPost, "/v1/customers?x=1", "k1", "tok-a", `{"name":"Ann"}`)
	require.Equal(t, http.StatusConflict, rec.Code, "the query is part of the request")
	require.EqualValues(t, 1, b.calls.Load())
}

func TestIdempotencyKeyScope(t *testing.T) {
	t.Parallel()
	b := setupIdempotency(t)
	body := `{"name":"Ann"}`
	require.Equal(t, "", b.do(t, http.MethodPost, "/v1/customers", "k1", "tok-a", body).Header().Get("Idempotent-Replayed"))
	// Another token, another path or another method: another key.
	require.Equal(t, "", b.do(t, http.MethodPost, "/v1/customers", "k1", "tok-b", body).Header().Get("Idempotent-Replayed"))
	require.Equal(t, "", b.do(t, http.MethodPost, "/v1/orders", "k1", "tok-a", body).Header().Get("Idempotent-Replayed"))
	require.Equal(t, "", b.do(t, http.MethodPatch, "/v1/customers", "k1", "tok-a", body).Header().Get("Idempotent-Replayed"))
	// Without a key, every request runs.
	b.do(t, http.MethodPost, "/v1/customers", "", "tok-a", body)
	b.do(t, http.MethodPost, "/v1/customers", "", "tok-a", body)
	require.EqualValues(t, 6, b.calls.Load())
}

func TestIdempotencyStoresClientErrorsNotServerErrors(t *testing.T) {
	t.Parallel()
	b := setupIdempotency(t)
	status := http.StatusInternalServerError
	b.next = func(w http.ResponseWriter, r *http.Request) {
		b.calls.Add(1)
		writeJSON(w, status, map[string]int{"status": status})
	}

	require.Equal(t, 500, b.do(t, http.MethodPost, "/x", "k1", "t", `{}`).Code)
	status = http.StatusServiceUnavailable
	require.Equal(t, 503, b.do(t, http.MethodPost, "/x", "k1", "t", `{}`).Code)
	status = http.StatusConflict
	require.Equal(t, 409, b.do(t, http.MethodPost, "/x", "k1", "t", `{}`).Code)
	status = http.StatusOK
	rec := b.do(t, http.MethodPost, "/x", "k1", "t", `{}`)
	require.Equal(t, 409, rec.Code, "the 409 was stored")
	require.Equal(t, "true", rec.Header().Get("Idempotent-Replayed"))
	require.EqualValues(t, 3, b.calls.Load())
}

func TestIdempotencyPanicReleasesTheKey(t *testing.T) {
	t.Parallel()
	b := setupIdempotency(t)
	b.next = func(http.ResponseWriter, *http.Request) {
		b.calls.Add(1)
		panic("boom")
	}
	require.Equal(t, 500, b.do(t, http.MethodPost, "/x", "k1", "t", `{}`).Code)
	b.next = func(w http.ResponseWriter, r *http.Request) {
		b.calls.Add(1)
		writeJSON(w, http.StatusOK, map[string]string{})
	}
	require.Equal(t, 200, b.do(t, http.MethodPost, "/x", "k1", "t", `{}`).Code)
	require.EqualValues(t, 2, b.calls.Load())
}

// TestIdempotencyConcurrentDuplicates sends the same request many times at
// once: exactly one runs, the others get 409 idempotency_key_in_use while it
// does, and a retry afterwards gets the first response.
func TestIdempotencyConcurrentDuplicates(t *testing.T) {
	t.Parallel()
	b := setupIdempotency(t)
	entered, release := make(chan struct{}), make(chan struct{})
	b.next = func(w http.ResponseWriter, r *http.Request) {
		if b.calls.Add(1) == 1 {
			close(entered)
		}
		<-release
		b.server.writeCommandResult(w, r, http.StatusCreated, map[string]string{"id": "cus_1"}, eventstore.Position{Major: 1})
	}

	first := make(chan *httptest.ResponseRecorder, 1)
	go func() { first <- b.do(t, http.MethodPost, "/x", "k1", "t", `{"a":1}`) }()
	<-entered

	var wg sync.WaitGroup
	codes := make([]string, 8)
	for i := range codes {
		wg.Go(func() {
			rec := b.do(t, http.MethodPost, "/x", "k1", "t", `{"a":1}`)
			codes[i] = errorCode(t, rec)
			if rec.Code == http.StatusConflict {
				codes[i] += "/" + rec.Header().Get("Retry-After")
			}
		})
	}
	wg.Wait()
	for _, c := range codes {
		require.Equal(t, "idempotency_key_in_use/1", c)
	}
	close(release)
	require.Equal(t, http.StatusCreated, (<-first).Code)

	rec := b.do(t, http.MethodPost, "/x", "k1", "t", `{"a":1}`)
	require.Equal(t, http.StatusCreated, rec.Code)
	require.Equal(t, "true", rec.Header().Get("Idempotent-Replayed"))
	require.EqualValues(t, 1, b.calls.Load())
}

// TestIdempotencyLease checks that a running request keeps its key (it
// renews the lease) and that a claim whose holder died is taken over once
// its lease has run out.
func TestIdempotencyLease(t *testing.T) {
	t.Parallel()
	b := setupIdempotency(t)
	b.server.idem.lease = 300 * time.Millisecond

	// A slow request outlives its lease several times over: still its key.
	release := make(chan struct{})
	b.next = func(w http.ResponseWriter, r *http.Request) {
		b.calls.Add(1)
		<-release
		writeJSON(w, http.StatusOK, map[string]string{})
	}
	done := make(chan int, 1)
	go func() { done <- b.do(t, http.MethodPost, "/slow", "k1", "t", `{}`).Code }()
	require.Eventually(t, func() bool { return b.calls.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
	time.Sleep(time.Second)
	require.Equal(t, "idempotency_key_in_use", errorCode(t, b.do(t, http.MethodPost, "/slow", "k1", "t", `{}`)))
	close(release)
	require.Equal(t, 200, <-done)

	// A claim nobody renews (its process died) is free after the lease.
	sc := idemScope{tokenHash: []byte("h"), method: "POST", path: "/dead", key: "k2"}
	c, _, err := b.server.idem.acquire(t.Context(), sc, []byte("fp"))
	require.NoError(t, err)
	require.NotNil(t, c)
	_, _, err = b.server.idem.acquire(t.Context(), sc, []byte("fp"))
	require.ErrorIs(t, err, errKeyInUse)
	time.Sleep(400 * time.Millisecond)
	c2, _, err := b.server.idem.acquire(t.Context(), sc, []byte("other"))
	require.NoError(t, err)
	require.NotNil(t, c2)
	// The dead holder's late completion does not overwrite the new claim.
	require.Error(t, b.server.idem.complete(t.Context(), c, storedResponse{status: 200, headers: map[string]string{}}))
	require.NoError(t, b.server.idem.complete(t.Context(), c2, storedResponse{status: 201, headers: map[string]string{}}))
}

func TestIdempotencyKeysExpire(t *testing.T) {
	t.Parallel()
	b := setupIdempotency(t)
	b.do(t, http.MethodPost, "/x", "k1", "t", `{}`)
	_, err := b.pool.Exec(context.Background(), `UPDATE http_idempotency_keys SET created_at = now() - interval '25 hours'`)
	require.NoError(t, err)

	rec := b.do(t, http.MethodPost, "/x", "k1", "t", `{"other":"body"}`)
	require.Equal(t, http.StatusCreated, rec.Code, "an expired key is a new key")
	require.EqualValues(t, 2, b.calls.Load())

	_, err = b.pool.Exec(context.Background(), `UPDATE http_idempotency_keys SET created_at = now() - interval '25 hours'`)
	require.NoError(t, err)
	b.server.idem.lastCleanup = time.Time{}
	b.server.idem.cleanup(t.Context())
	var n int
	require.NoError(t, b.pool.QueryRow(context.Background(), `SELECT count(*) FROM http_idempotency_keys`).Scan(&n))
	require.Zero(t, n)
}

func TestIdempotencyBadRequests(t *testing.T) {
	t.Parallel()
	b := setupIdempotency(t)
	rec := b.do(t, http.MethodPost, "/x", strings.Repeat("k", 256), "t", `{}`)
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.JSONEq(t, `{"error":{"code":"invalid_header","message":"Idempotency-Key must be 1 to 255 printable ASCII characters","field":"Idempotency-Key"}}`, rec.Body.String())

	rec = b.do(t, http.MethodPost, "/x", "k1", "t", `{"a":"`+strings.Repeat("x", maxBodyBytes)+`"}`)
	require.Equal(t, http.StatusBadRequest, rec.Code)
	require.Equal(t, "body_too_large", errorCode(t, rec))
	require.Zero(t, b.calls.Load())
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	pool := pgtest.NewPool(t)
	require.NoError(t, Migrate(t.Context(), pool))
	require.NoError(t, Migrate(t.Context(), pool))
}
