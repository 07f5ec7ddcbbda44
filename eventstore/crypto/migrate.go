package crypto

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

//go:generate go run github.com/sqlc-dev/sqlc/cmd/sqlc@v1.31.1 generate -f internal/dbsqlc/sqlc.yaml

// versionTable is where tern records which of this package's migrations are
// applied: the keys' schema moves independently of the event store's (the
// keys live in PostgreSQL whichever store holds the events).
const versionTable = "eventstore_crypto_schema_version"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate creates or updates the tables of the data keys (customer_data_keys,
// customer_data_streams) in pool. It is idempotent, and concurrent calls are
// serialised by the migrator's advisory lock.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrating the data keys: %w", err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), versionTable)
	if err != nil {
		return fmt.Errorf("migrating the data keys: %w", err)
	}
	files, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("migrating the data keys: %w", err)
	}
	if err := m.LoadMigrations(files); err != nil {
		return fmt.Errorf("migrating the data keys: loading migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrating the data keys: %w", err)
	}
	return nil
}

// latestVersion is the number of the newest embedded migration.
var latestVersion = func() int32 {
	files, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err)
	}
	names, err := migrate.FindMigrations(files)
	if err != nil {
		panic(fmt.Sprintf("eventstore/crypto: embedded migrations: %v", err))
	}
	return int32(len(names))
}()

// schemaVersion reads tern's version table (not a table of the migrations,
// so not a sqlc query).
const schemaVersion = `SELECT version FROM ` + versionTable
