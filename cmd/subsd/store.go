package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/subsd/subsd/eventstore/crypto"
)

// openStore opens the configured event store (openEventStore) wrapped in
// the encryption of personal data (eventstore/crypto): every part of the
// service that appends or reads events (commands, projections, reactors,
// workers, the auditors' endpoints, replay) goes through it, so personal
// fields are stored encrypted with their customer's key and read back in
// plaintext, or as null once the customer is erased.
//
// The master key is DATA_KEY. Without it, dev mode generates one for the
// run and prints it (like the API tokens: export it to keep the data
// readable across restarts; scripts/dev keeps one under .data). Otherwise
// the key stored in the database is used, made by the first process that
// needed one (crypto.StoredMasterKey), with a warning: API.md's
// configuration has no DATA_KEY, and a service started by it alone must
// still run; personal data stays erasable, but a copy of the database is no
// longer ciphertext without the key. The key is checked against the
// database by migrate (crypto.CheckMasterKey), so cfg.DataKey is set to
// the one chosen here.
func openStore(ctx context.Context, cfg *Config, pool *pgxpool.Pool, logger *slog.Logger, stdout io.Writer) (*crypto.Store, func(), error) {
	switch {
	case cfg.DataKey != nil:
	case cfg.Dev:
		key := make([]byte, crypto.MasterKeySize)
		_, _ = rand.Read(key) // crypto/rand.Read never fails
		cfg.DataKey = key
		// Printed, not logged, like the tokens: it is a secret.
		fmt.Fprintf(stdout, "SUBSD_DEV=1 and DATA_KEY unset: generated a data key for this run; personal data written now "+
			"is unreadable without it (export this line to keep it across restarts):\nDATA_KEY=%s\n",
			base64.StdEncoding.EncodeToString(key))
	default:
		if err := crypto.Migrate(ctx, pool); err != nil {
			return nil, nil, fmt.Errorf("DATA_KEY unset: %w", err)
		}
		key, err := crypto.StoredMasterKey(ctx, pool)
		if err != nil {
			return nil, nil, fmt.Errorf("DATA_KEY unset: %w", err)
		}
		cfg.DataKey = key
		logger.Warn("DATA_KEY is not set: using the master key stored in the database; personal data stays erasable, " +
			"but a copy of the database can read it: set DATA_KEY (openssl rand -base64 32) in production")
	}
	inner, closeInner, err := openEventStore(ctx, *cfg, pool, logger)
	if err != nil {
		return nil, nil, err
	}
	store, err := crypto.New(inner, pool, cfg.DataKey)
	if err != nil {
		closeInner()
		return nil, nil, fmt.Errorf("DATA_KEY: %w", err)
	}
	return store, closeInner, nil
}

// migrateDataKeys creates the data keys' tables and, when a master key is
// configured, checks that it is the one the existing keys were wrapped
// with: with another, every read of personal data would fail, and the
// projections would give up on every event that holds some.
func migrateDataKeys(ctx context.Context, cfg Config, pool *pgxpool.Pool) error {
	if err := crypto.Migrate(ctx, pool); err != nil {
		return fmt.Errorf("migrating the data keys: %w", err)
	}
	if cfg.DataKey == nil {
		return nil
	}
	if err := crypto.CheckMasterKey(ctx, pool, cfg.DataKey); err != nil {
		return fmt.Errorf("DATA_KEY: %w", err)
	}
	return nil
}
