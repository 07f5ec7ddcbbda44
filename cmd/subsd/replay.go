package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/subsd/subsd/projections"
)

// runReplay is `subsd replay [--projection NAME]`: it rebuilds one read
// model, or all of them, from the whole event log into fresh tables and
// swaps them in (projections.Rebuild). Serving processes may keep running:
// readers see the old read model until the swap. Migrations are applied
// first, so replay works on a database serve has never seen.
func runReplay(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	name := fs.String("projection", "", "rebuild only this projection ("+strings.Join(projections.Names(), ", ")+"); default all")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if *name != "" {
		if _, err := projections.ByName(*name); err != nil {
			fmt.Fprintf(stderr, "subsd replay: unknown projection %q (want one of %s)\n", *name, strings.Join(projections.Names(), ", "))
			return errUsage
		}
	}
	cfg, err := parseConfig(getenv)
	if err != nil {
		return err
	}
	logger := newLogger(cfg, stderr)
	pool, err := pgxpool.NewWithConfig(ctx, cfg.Database)
	if err != nil {
		return fmt.Errorf("opening the database pool: %w", err)
	}
	defer pool.Close()
	store, closeStore, err := openStore(ctx, &cfg, pool, logger, stdout)
	if err != nil {
		return err
	}
	defer closeStore()
	if err := migrate(ctx, cfg, pool); err != nil {
		return err
	}

	start := time.Now()
	if *name == "" {
		err = projections.RebuildAll(ctx, pool, store)
	} else {
		err = projections.Rebuild(ctx, pool, store, *name)
	}
	if errors.Is(err, projections.ErrRebuildRunning) {
		return fmt.Errorf("replay: %w (wait for it, or check GET /v1/projections)", err)
	}
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	rebuilt := projections.Names()
	if *name != "" {
		rebuilt = []string{*name}
	}
	logger.Info("read models rebuilt", "projections", rebuilt, "took", time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(stdout, "rebuilt %s in %s\n", strings.Join(rebuilt, ", "), time.Since(start).Round(time.Millisecond))
	return nil
}
