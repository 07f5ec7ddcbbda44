package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/eventstore/postgres/pgtest"
	"github.com/subsd/subsd/workers/mail/mailtest"
)

// logBuffer collects what run logs (JSON, one record a line) so a test can
// wait for a record; it is safe for the concurrent writes of a running
// server.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// record returns the first complete log record whose message is msg.
func (b *logBuffer) record(msg string) (map[string]any, bool) {
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == msg {
			return rec, true
		}
	}
	return nil, false
}

// waitFor waits for a log record with message msg.
func (b *logBuffer) waitFor(t *testing.T, msg string) map[string]any {
	t.Helper()
	var rec map[string]any
	require.Eventually(t, func() bool {
		var ok bool
		rec, ok = b.record(msg)
		return ok
	}, 30*time.Second, 10*time.Millisecond, "no %q log record; logs:\n%s", msg, b)
	return rec
}

// subsd is a running `subsd serve` (through run, in this process).
type subsd struct {
	baseURL string
	logs    *logBuffer
	stop    context.CancelFunc
	done    chan error
}

// startServe runs `subsd serve` with vars as its whole environment, on a
// port of its own, and returns once it is listening. The server is stopped
// when the test ends, if the test has not stopped it.
func startServe(t *testing.T, vars map[string]string, args ...string) *subsd {
	t.Helper()
	vars["HTTP_ADDR"] = "127.0.0.1:0"
	ctx, cancel := context.WithCancel(context.Background())
	s := &subsd{logs: &logBuffer{}, stop: cancel, done: make(chan error, 1)}
	go func() { s.done <- run(ctx, append([]string{"serve"}, args...), env(vars), io.Discard, s.logs) }()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})

	var (
		rec     map[string]any
		exited  bool
		exitErr error
	)
	require.Eventually(t, func() bool {
		var ok bool
		if rec, ok = s.logs.record("listening"); ok {
			return true
		}
		select {
		case exitErr = <-s.done:
			s.done <- exitErr // for the cleanup
			exited = true
			return true
		default:
			return false
		}
	}, 30*time.Second, 10*time.Millisecond, "serve did not log its address; logs:\n%s", s.logs)
	if exited {
		t.Fatalf("serve returned before listening: %v; logs:\n%s", exitErr, s.logs)
	}
	s.baseURL = "http://" + rec["addr"].(string)
	return s
}

// get requests path and returns the status and the body decoded as JSON.
func (s *subsd) get(t *testing.T, path string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(s.baseURL + path)
	require.NoError(t, err)
	defer resp.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	return resp.StatusCode, body
}

// shutdown cancels serve's context, as SIGTERM does, and returns what run
// returned.
func (s *subsd) shutdown(t *testing.T) error {
	t.Helper()
	s.stop()
	select {
	case err := <-s.done:
		s.done <- err // for the cleanup
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop within 30 s of its context being cancelled; logs:\n%s", s.logs)
		return nil
	}
}

func TestServe(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	s := startServe(t, map[string]string{
		"DATABASE_URL": dbURL,
		"API_TOKENS":   "admin:" + adminToken,
	})

	status, body := s.get(t, "/healthz")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, map[string]any{"status": "ok"}, body)

	// Migrations run after the server starts listening, so readiness may
	// take a moment.
	require.Eventually(t, func() bool {
		status, _ := s.get(t, "/readyz")
		return status == http.StatusOK
	}, 30*time.Second, 20*time.Millisecond, "never ready; logs:\n%s", s.logs)
	status, body = s.get(t, "/readyz")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, map[string]any{"status": "ok"}, body)

	require.NoError(t, s.shutdown(t), "a cancelled serve drains and returns nil; logs:\n%s", s.logs)
	s.logs.waitFor(t, "stopped")
}

// TestServeNotReadyWithoutDatabase drops the database under a running server:
// /readyz turns 503 naming what failed, /healthz stays 200, and the server
// still shuts down cleanly.
func TestServeNotReadyWithoutDatabase(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	s := startServe(t, map[string]string{
		"DATABASE_URL": dbURL,
		"API_TOKENS":   "admin:" + adminToken,
	})
	s.logs.waitFor(t, "ready")

	dropDatabase(t, dbURL, databaseName(t, dbURL))

	status, body := s.get(t, "/readyz")
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Equal(t, "not_ready", body["error"].(map[string]any)["code"])
	require.Contains(t, body["error"].(map[string]any)["message"], "database")

	status, _ = s.get(t, "/healthz")
	require.Equal(t, http.StatusOK, status)

	require.NoError(t, s.shutdown(t))
}

func TestServeRoles(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	for _, role := range []string{"projector", "worker"} {
		// Sequential: both migrate the same database.
		t.Run(role, func(t *testing.T) {
			// A role without the API needs no tokens.
			s := startServe(t, map[string]string{"DATABASE_URL": dbURL}, "--role="+role)
			rec := s.logs.waitFor(t, "ready")
			require.Equal(t, role, rec["role"])
			// The routers start after the "ready" record (readiness checks
			// that they run), so /readyz may need a moment more.
			require.Eventually(t, func() bool {
				status, _ := s.get(t, "/readyz")
				return status == http.StatusOK
			}, 30*time.Second, 20*time.Millisecond, "never ready; logs:\n%s", s.logs)
			// Without the API, only the operational routes are served.
			status, _ := s.get(t, "/v1/customers")
			require.Equal(t, http.StatusNotFound, status)
			require.NoError(t, s.shutdown(t))
		})
	}
}

func TestServeRefusesWithoutTokens(t *testing.T) {
	t.Parallel()
	err := run(t.Context(), []string{"serve"}, env(nil), io.Discard, io.Discard)
	require.ErrorContains(t, err, "API_TOKENS is not set")
	require.ErrorContains(t, err, "SUBSD_DEV=1")
}

func TestServeDevModeGeneratesTokens(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	var stdout bytes.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	logs := &logBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, env(map[string]string{
			"DATABASE_URL": dbURL,
			"HTTP_ADDR":    "127.0.0.1:0",
			"SUBSD_DEV":    "1",
		}), &stdout, logs)
	}()
	// Dev mode logs text, not JSON.
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "msg=ready") },
		30*time.Second, 10*time.Millisecond, "logs:\n%s", logs)
	cancel()
	require.NoError(t, <-done)

	var line string
	for l := range strings.Lines(stdout.String()) {
		if after, ok := strings.CutPrefix(l, "API_TOKENS="); ok {
			line = strings.TrimSpace(after)
		}
	}
	tokens, err := parseTokens(line)
	require.NoError(t, err, "stdout:\n%s", stdout.String())
	var got []string
	for _, tok := range tokens {
		got = append(got, tok.Role)
		require.NotContains(t, logs.String(), tok.Secret, "tokens are printed, never logged")
	}
	require.Equal(t, roles, got)
}

func TestMigrateIsIdempotent(t *testing.T) {
	t.Parallel()
	vars := env(map[string]string{"DATABASE_URL": pgtest.NewDatabase(t)})
	for range 2 {
		var logs bytes.Buffer
		require.NoError(t, run(t.Context(), []string{"migrate"}, vars, io.Discard, &logs), "logs:\n%s", logs.String())
		require.Contains(t, logs.String(), `"msg":"migrations applied"`)
	}
}

func TestDBCheck(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)

	t.Run("Answers", func(t *testing.T) {
		var stdout bytes.Buffer
		require.NoError(t, run(t.Context(), []string{"dbcheck"}, env(map[string]string{"DATABASE_URL": dbURL}), &stdout, io.Discard))
		require.Equal(t, dbURL+"\n", stdout.String())
	})

	t.Run("CreatesAnotherDatabase", func(t *testing.T) {
		other := databaseName(t, dbURL) + "_other"
		vars := env(map[string]string{"DATABASE_URL": dbURL})
		t.Cleanup(func() { dropDatabase(t, dbURL, other) })

		err := run(t.Context(), []string{"dbcheck", "--database=" + other}, vars, io.Discard, io.Discard)
		require.ErrorContains(t, err, "does not exist", "without --create a missing database is an error")

		for range 2 { // the second time it exists already
			var stdout bytes.Buffer
			require.NoError(t, run(t.Context(), []string{"dbcheck", "--create", "--database=" + other}, vars, &stdout, io.Discard))
			otherURL, err := withDatabase(dbURL, other)
			require.NoError(t, err)
			require.Equal(t, otherURL+"\n", stdout.String())
		}
	})

	t.Run("NothingAnswers", func(t *testing.T) {
		// Port 1 (tcpmux) has no listener on any machine this runs on.
		err := run(t.Context(), []string{"dbcheck", "--timeout=2s"}, env(map[string]string{"DATABASE_URL": "postgres://127.0.0.1:1/x"}), io.Discard, io.Discard)
		require.Error(t, err)
	})
}

func databaseName(t *testing.T, dbURL string) string {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	require.NoError(t, err)
	return cfg.Database
}

// dropDatabase drops database name, if it exists, on dbURL's server,
// closing the connections still open to it.
func dropDatabase(t *testing.T, dbURL, name string) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dbURL)
	require.NoError(t, err)
	cfg.Database = "postgres"
	ctx := context.Background() // also called from Cleanup, after t.Context is done
	conn, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	require.NoError(t, err)
}

func TestCommandLine(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer

	require.NoError(t, run(t.Context(), []string{"version"}, env(nil), &stdout, &stderr))
	require.True(t, strings.HasPrefix(stdout.String(), "subsd dev "), stdout.String())

	stdout.Reset()
	require.NoError(t, run(t.Context(), []string{"help"}, env(nil), &stdout, &stderr))
	require.Contains(t, stdout.String(), "usage: subsd")

	for _, args := range [][]string{
		nil,
		{"frobnicate"},
		{"serve", "--role=everything"},
		{"serve", "--drain-timeout=0s"},
		{"serve", "extra"},
		{"migrate", "--bogus"},
	} {
		require.ErrorIs(t, run(t.Context(), args, env(nil), io.Discard, io.Discard), errUsage, "args %q", args)
	}

	stderr.Reset()
	require.NoError(t, run(t.Context(), []string{"serve", "-h"}, env(nil), io.Discard, &stderr), "-h is not an error")
	require.Contains(t, stderr.String(), "-role")
}

// TestServeWarnsOfShortTokens: a short token is accepted (API.md sets no
// length), and serve warns about it without printing it.
func TestServeWarnsOfShortTokens(t *testing.T) {
	t.Parallel()
	s := startAPIWith(t, map[string]string{"DATABASE_URL": pgtest.NewDatabase(t), "API_TOKENS": "admin:" + adminToken + ",auditor:audit"})
	rec := s.logs.waitFor(t, "API_TOKENS entry 2 (auditor): the token is shorter than 16 characters, within guessing range")
	require.Equal(t, "WARN", rec["level"])
	require.NotContains(t, s.logs.String(), `"audit"`)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, s.baseURL+"/v1/customers", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer audit")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestServeWithAPIConfigurationOnly starts serve with only the variables
// API.md's "Running" table names (no DATA_KEY, MAIL_FROM or BUSINESS_*) and
// sends a return label: the email goes out through SMTP from the
// placeholder sender, with its PDF.
func TestServeWithAPIConfigurationOnly(t *testing.T) {
	t.Parallel()
	smtp := mailtest.NewServer(t)
	s := startAPIWith(t, map[string]string{
		"DATABASE_URL": pgtest.NewDatabase(t), "API_TOKENS": "admin:" + adminToken,
		"SMTP_URL": smtp.URL.String(), "DATA_KEY": "",
	})
	s.logs.waitFor(t, "MAIL_FROM is not set: emails are sent from noreply@localhost.localdomain until the email settings name a sender (PUT /v1/settings/email from_address)")
	cus := s.newCustomer(t, "api-only@example.org")
	s.do(t, call{Method: "POST", Path: "/v1/customers/" + cus + "/return-label"}).ok(t, http.StatusOK)
	msgs := smtp.Wait(t, 1, 30*time.Second)
	require.Equal(t, "noreply@localhost.localdomain", msgs[0].From)
	require.Equal(t, []string{"api-only@example.org"}, msgs[0].To)
	require.Len(t, msgs[0].Attachments, 1)
}
