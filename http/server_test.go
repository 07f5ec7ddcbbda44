package http

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type testBundle struct {
	server *Server
	client *httptest.Server
}

func setup(t *testing.T, checks ...Check) *testBundle {
	t.Helper()
	s := &Server{Checks: checks}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return &testBundle{server: s, client: ts}
}

// get requests path and decodes the JSON body, checking the content type.
func get(t *testing.T, method, url string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

func ok(context.Context) error { return nil }

func TestHealthz(t *testing.T) {
	t.Parallel()
	// A failing readiness check must not fail liveness.
	b := setup(t, Check{Name: "database", CheckFunc: func(context.Context) error { return errors.New("down") }})

	status, body := get(t, http.MethodGet, b.client.URL+"/healthz")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, map[string]any{"status": "ok"}, body)
}

func TestReadyz(t *testing.T) {
	t.Parallel()

	t.Run("AllChecksPass", func(t *testing.T) {
		t.Parallel()
		b := setup(t, Check{Name: "database", CheckFunc: ok}, Check{Name: "event_store", CheckFunc: ok})

		status, body := get(t, http.MethodGet, b.client.URL+"/readyz")
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, map[string]any{"status": "ok"}, body)
	})

	t.Run("FailingChecksAreNamedNotDescribed", func(t *testing.T) {
		t.Parallel()
		secret := errors.New("dial tcp 10.0.0.7:5432: password authentication failed for user subsd")
		b := setup(t,
			Check{Name: "database", CheckFunc: func(context.Context) error { return secret }},
			Check{Name: "migrations", CheckFunc: ok},
			Check{Name: "event_store", CheckFunc: func(context.Context) error { return secret }},
		)

		status, body := get(t, http.MethodGet, b.client.URL+"/readyz")
		require.Equal(t, http.StatusServiceUnavailable, status)
		require.Equal(t, map[string]any{"error": map[string]any{
			"code":    "not_ready",
			"message": "not ready: database, event_store",
		}}, body)
	})
}

func TestErrorsAreJSON(t *testing.T) {
	t.Parallel()
	b := setup(t)

	status, body := get(t, http.MethodGet, b.client.URL+"/nope")
	require.Equal(t, http.StatusNotFound, status)
	require.Equal(t, "not_found", body["error"].(map[string]any)["code"])

	status, body = get(t, http.MethodPost, b.client.URL+"/healthz")
	require.Equal(t, http.StatusMethodNotAllowed, status)
	require.Equal(t, "method_not_allowed", body["error"].(map[string]any)["code"])
}

func TestPanicIsInternalError(t *testing.T) {
	t.Parallel()
	s := &Server{}
	h := s.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret detail")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))

	require.Equal(t, http.StatusInternalServerError, rec.Code)
	require.JSONEq(t, `{"error":{"code":"internal_error","message":"internal error"}}`, rec.Body.String())
}

// TestServeDrains checks the graceful shutdown: after ctx is cancelled a
// request in flight still gets its answer, new connections are refused, and
// Serve returns nil once the request is done.
func TestServeDrains(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	s := &Server{Checks: []Check{{Name: "slow", CheckFunc: func(context.Context) error {
		close(entered)
		<-release
		return nil
	}}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()

	type result struct {
		status int
		err    error
	}
	inFlight := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + ln.Addr().String() + "/readyz")
		if err != nil {
			inFlight <- result{err: err}
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		inFlight <- result{status: resp.StatusCode}
	}()
	<-entered
	cancel()

	// Shutdown closes the listener first; wait for that, then check that
	// Serve is still draining.
	require.Eventually(t, func() bool {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err == nil {
			_ = c.Close()
		}
		return err != nil
	}, 5*time.Second, 10*time.Millisecond)
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v with a request in flight", err)
	default:
	}

	close(release)
	r := <-inFlight
	require.NoError(t, r.err)
	require.Equal(t, http.StatusOK, r.status)
	require.NoError(t, <-served)
}

func TestServeDrainTimeout(t *testing.T) {
	t.Parallel()
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	s := &Server{DrainTimeout: 50 * time.Millisecond, Checks: []Check{{Name: "stuck", CheckFunc: func(context.Context) error {
		close(entered)
		<-release
		return nil
	}}}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln) }()
	go func() {
		if resp, err := http.Get("http://" + ln.Addr().String() + "/readyz"); err == nil {
			_ = resp.Body.Close()
		}
	}()
	<-entered
	cancel()

	err = <-served
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
