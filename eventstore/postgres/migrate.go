package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

// versionTable is where tern records which of this package's migrations are
// applied. It is the store's own, so the store's schema moves independently
// of the read models' and River's.
const versionTable = "eventstore_schema_version"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrate brings the store's tables up to the version this build expects,
// applying the numbered migrations embedded from migrations/ in order, each in
// its own transaction. It is idempotent, and safe to run from several
// processes at once (tern serialises them with an advisory lock).
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrating event store: %w", err)
	}
	defer conn.Release()

	m, err := migrator(ctx, conn)
	if err != nil {
		return fmt.Errorf("migrating event store: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("migrating event store: %w", err)
	}
	return nil
}

func migrator(ctx context.Context, conn *pgxpool.Conn) (*migrate.Migrator, error) {
	m, err := migrate.NewMigrator(ctx, conn.Conn(), versionTable)
	if err != nil {
		return nil, err
	}
	files, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	if err := m.LoadMigrations(files); err != nil {
		return nil, fmt.Errorf("loading migrations: %w", err)
	}
	return m, nil
}

// latestVersion is the number of the newest embedded migration.
var latestVersion = func() int32 {
	files, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		panic(err)
	}
	names, err := migrate.FindMigrations(files)
	if err != nil {
		panic(fmt.Sprintf("eventstore/postgres: embedded migrations: %v", err))
	}
	return int32(len(names))
}()
