// Package pgtest gives each test a PostgreSQL database of its own, created on
// a real server and dropped when the test ends. Tests that must commit, LISTEN
// or run migrations use it instead of a fake; tests that only need isolation
// can as well, since a fresh database costs a fraction of a second.
//
// The server is the one named by TEST_DATABASE_URL, else DATABASE_URL, else
// postgres://127.0.0.1:5432/postgres?sslmode=disable. A test that cannot reach
// it fails, saying so: it does not skip, because a silently skipped database
// test is a test that never runs.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultServerURL is the server used when neither TEST_DATABASE_URL nor
// DATABASE_URL is set: the local development server.
const DefaultServerURL = "postgres://127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL returns the URL of the server test databases are created on.
func ServerURL() string {
	for _, name := range []string{"TEST_DATABASE_URL", "DATABASE_URL"} {
		if v := os.Getenv(name); v != "" {
			return v
		}
	}
	return DefaultServerURL
}

// NewDatabase creates an empty database named subsd_test_<random> on the test
// server and returns its connection URL. The database is dropped (WITH
// (FORCE), closing any connection still open) when the test and its subtests
// have finished, so close pools with t.Cleanup registered after this call.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	server := ServerURL()
	cfg, err := pgx.ParseConfig(server)
	if err != nil {
		tb.Fatalf("pgtest: parsing the server URL %q: %v", redact(server), err)
	}
	var suffix [6]byte
	_, _ = rand.Read(suffix[:]) // crypto/rand.Read never fails
	name := "subsd_test_" + hex.EncodeToString(suffix[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := exec(ctx, cfg, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		tb.Fatalf("pgtest: creating a test database on %s (set TEST_DATABASE_URL to a server where this user may CREATE DATABASE): %v", redact(server), err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := exec(ctx, cfg, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			tb.Errorf("pgtest: dropping test database %s: %v", name, err)
		}
	})

	u, err := url.Parse(server)
	if err != nil || u.Scheme == "" {
		// A keyword/value connection string: append the dbname setting,
		// which overrides an earlier one.
		return server + " dbname=" + name
	}
	u.Path = "/" + name
	return u.String()
}

// NewPool creates a database with NewDatabase and returns a pool connected to
// it, closed when the test ends. The pool allows 16 connections, enough for
// tests that exercise concurrent writers.
func NewPool(tb testing.TB) *pgxpool.Pool {
	tb.Helper()
	dbURL := NewDatabase(tb)
	cfg, err := pgxpool.ParseConfig(dbURL)
	if err != nil {
		tb.Fatalf("pgtest: parsing %q: %v", redact(dbURL), err)
	}
	cfg.MaxConns = 16
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		tb.Fatalf("pgtest: connecting to the test database: %v", err)
	}
	tb.Cleanup(pool.Close)
	if err := pool.Ping(ctx); err != nil {
		tb.Fatalf("pgtest: connecting to the test database: %v", err)
	}
	return pool
}

// exec runs one statement on a connection of its own. CREATE DATABASE fails
// while another session is connected to the template, which happens when
// tests create databases in parallel; it is retried.
func exec(ctx context.Context, cfg *pgx.ConnConfig, sql string) error {
	for attempt := 0; ; attempt++ {
		err := execOnce(ctx, cfg, sql)
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" || attempt == 20 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(50+attempt*25) * time.Millisecond):
		}
	}
}

func execOnce(ctx context.Context, cfg *pgx.ConnConfig, sql string) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

// redact hides the password of a URL for messages.
func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}
