package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/postgres"
)

// errChainsBroken is verify's failure when it completed and found broken
// links (they have been printed).
var errChainsBroken = errors.New("the event log has been tampered with")

// runVerify is `subsd verify`: it recomputes the hash chain of every stream
// of the PostgreSQL event store (postgres.Store.Verify) and prints the first
// broken link of each stream whose chain does not hold: stream, version,
// event id, position and what is wrong. It exits 0 only when every chain
// holds. It only reads, in one read-only transaction, so it may run beside
// serving processes; it applies no migrations (a store not yet migrated to
// the hash chain is an error saying so).
//
// EventStoreDB keeps no chain of ours (events there cannot be changed
// through its API, and its chunk files carry their own checksums), so with
// EVENTSTORE_URL set verify refuses, saying so.
func runVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("verify", flag.ContinueOnError)
	maxBroken := fs.Int("max-broken", 100, "list at most this many broken streams (all are counted)")
	quiet := fs.Bool("quiet", false, "no progress lines on stderr")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	cfg, err := parseConfig(getenv)
	if err != nil {
		return err
	}
	if cfg.EventStoreURL != "" {
		return errors.New("verify: EVENTSTORE_URL is set, and only the PostgreSQL event store keeps hash chains to verify")
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg.Database)
	if err != nil {
		return fmt.Errorf("opening the database pool: %w", err)
	}
	defer pool.Close()
	store := postgres.New(pool)
	if err := store.Ping(ctx); err != nil {
		return fmt.Errorf("verify: %w", err)
	}

	start := time.Now()
	opts := eventstore.VerifyOptions{MaxBroken: *maxBroken}
	if !*quiet {
		opts.Progress = func(events int64) {
			fmt.Fprintf(stderr, "verify: %d events checked (%s)\n", events, time.Since(start).Round(time.Millisecond))
		}
	}
	report, err := store.Verify(ctx, opts)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	took := time.Since(start)
	rate := float64(report.Events) / max(took.Seconds(), 1e-9)
	if report.OK() {
		fmt.Fprintf(stdout, "ok: every hash chain holds: %d events in %d streams, verified in %s (%.0f events/s)\n",
			report.Events, report.Streams, took.Round(time.Millisecond), rate)
		return nil
	}
	fmt.Fprintf(stdout, "BROKEN: %d of %d streams have a broken hash chain (%d events checked in %s); the first broken link of each:\n",
		report.BrokenStreams, report.Streams, report.Events, took.Round(time.Millisecond))
	for _, l := range report.Broken {
		fmt.Fprintf(stdout, "  %s\n", l)
	}
	if n := report.BrokenStreams - int64(len(report.Broken)); n > 0 {
		fmt.Fprintf(stdout, "  ... and %d more streams (see --max-broken)\n", n)
	}
	return errChainsBroken
}
