package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/eventstore/crypto"
	"github.com/subsd/subsd/eventstore/postgres/pgtest"
)

// TestServeRefusesWithoutDataKey: without DATA_KEY personal data could not
// be encrypted, so serve and replay do not start (outside dev mode).
func TestServeRefusesWithoutDataKey(t *testing.T) {
	t.Parallel()
	vars := map[string]string{"API_TOKENS": "admin:" + adminToken, "DATA_KEY": ""}
	for _, cmd := range []string{"serve", "replay"} {
		err := run(t.Context(), []string{cmd}, env(vars), io.Discard, io.Discard)
		require.ErrorContains(t, err, "DATA_KEY is not set", cmd)
		require.ErrorContains(t, err, "SUBSD_DEV=1", cmd)
	}
}

// TestServeDevModeGeneratesDataKey: dev mode without DATA_KEY generates one
// for the run and prints it (never logs it).
func TestServeDevModeGeneratesDataKey(t *testing.T) {
	t.Parallel()
	var stdout bytes.Buffer
	ctx, cancel := context.WithCancel(t.Context())
	logs := &logBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve"}, env(map[string]string{
			"DATABASE_URL": pgtest.NewDatabase(t), "HTTP_ADDR": "127.0.0.1:0", "SUBSD_DEV": "1", "DATA_KEY": "",
		}), &stdout, logs)
	}()
	require.Eventually(t, func() bool { return strings.Contains(logs.String(), "msg=ready") },
		30*time.Second, 10*time.Millisecond, "logs:\n%s", logs)
	cancel()
	require.NoError(t, <-done)

	var line string
	for l := range strings.Lines(stdout.String()) {
		if after, ok := strings.CutPrefix(l, "DATA_KEY="); ok {
			line = strings.TrimSpace(after)
		}
	}
	key, err := base64.StdEncoding.DecodeString(line)
	require.NoError(t, err, "stdout:\n%s", stdout.String())
	require.Len(t, key, crypto.MasterKeySize)
	require.NotContains(t, logs.String(), line, "the key is printed, never logged")
}

// TestAnotherDataKeyIsRefused: once data keys exist, a DATA_KEY other than
// the one that wrapped them stops serve and migrate at start, naming the
// problem, instead of failing on every read of personal data.
func TestAnotherDataKeyIsRefused(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	s := startServe(t, map[string]string{"DATABASE_URL": dbURL, "API_TOKENS": "admin:" + adminToken})
	api := &apiServer{subsd: s, dbURL: dbURL}
	require.Eventually(t, func() bool { status, _ := s.get(t, "/readyz"); return status == http.StatusOK }, 60*time.Second, 20*time.Millisecond)
	api.newCustomer(t, "keyed@example.com")
	require.NoError(t, s.shutdown(t))

	other := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, crypto.MasterKeySize))
	for _, cmd := range []string{"migrate", "serve"} {
		err := run(t.Context(), []string{cmd}, env(map[string]string{
			"DATABASE_URL": dbURL, "API_TOKENS": "admin:" + adminToken, "HTTP_ADDR": "127.0.0.1:0", "DATA_KEY": other,
		}), io.Discard, io.Discard)
		require.ErrorIs(t, err, crypto.ErrWrongMasterKey, cmd)
		require.ErrorContains(t, err, "DATA_KEY", cmd)
		require.NotContains(t, err.Error(), other, "the key is never quoted")
	}
	// The right key, and migrate without a key, are fine.
	require.NoError(t, run(t.Context(), []string{"migrate"}, env(map[string]string{"DATABASE_URL": dbURL}), io.Discard, io.Discard))
	require.NoError(t, run(t.Context(), []string{"migrate"}, env(map[string]string{"DATABASE_URL": dbURL, "DATA_KEY": ""}), io.Discard, io.Discard))
}
