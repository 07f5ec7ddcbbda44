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

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/eventstore/crypto"
	"github.com/subsd/subsd/eventstore/postgres/pgtest"
)

// TestServeWithoutDataKeyStoresOne: without DATA_KEY (API.md's
// configuration has none) serve still starts, outside dev mode too: the
// first process stores a generated master key in the database and warns;
// a restart, and replay, use the same key (a different one would be
// refused as the wrong DATA_KEY), and setting another DATA_KEY later is
// refused.
func TestServeWithoutDataKeyStoresOne(t *testing.T) {
	t.Parallel()
	dbURL := pgtest.NewDatabase(t)
	vars := map[string]string{"DATABASE_URL": dbURL, "API_TOKENS": "admin:" + adminToken, "DATA_KEY": ""}
	stored := func() []byte {
		pool, err := pgxpool.New(t.Context(), dbURL)
		require.NoError(t, err)
		defer pool.Close()
		var key []byte
		require.NoError(t, pool.QueryRow(t.Context(), `SELECT master_key FROM stored_master_key`).Scan(&key))
		return key
	}

	s := startAPIWith(t, vars)
	rec := s.logs.waitFor(t, "DATA_KEY is not set: using the master key stored in the database; personal data stays erasable, "+
		"but a copy of the database can read it: set DATA_KEY (openssl rand -base64 32) in production")
	require.Equal(t, "WARN", rec["level"])
	key := stored()
	require.Len(t, key, crypto.MasterKeySize)
	require.NotContains(t, s.logs.String(), base64.StdEncoding.EncodeToString(key), "the key is never logged")
	// Personal data is written and read back with it.
	s.newCustomer(t, "stored-key@example.org")
	require.NoError(t, s.shutdown(t))

	// A restart, and replay, take the same key: the data keys it wrapped
	// still open (a wrong key is refused at start).
	s = startAPIWith(t, vars)
	require.NoError(t, s.shutdown(t))
	require.NoError(t, run(t.Context(), []string{"replay"}, env(vars), io.Discard, io.Discard))
	require.Equal(t, key, stored())

	// Another DATA_KEY is refused, naming the key the data was written with.
	other := map[string]string{"DATABASE_URL": dbURL, "API_TOKENS": "admin:" + adminToken, "DATA_KEY": testDataKey}
	err := run(t.Context(), []string{"replay"}, env(other), io.Discard, io.Discard)
	require.ErrorContains(t, err, "DATA_KEY")
	require.ErrorIs(t, err, crypto.ErrWrongMasterKey)
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
