package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// PostgreSQL error codes dbcheck tells apart.
const (
	codeInvalidCatalogName = "3D000" // the database does not exist
	codeDuplicateDatabase  = "42P04" // someone created it first
)

// runDBCheck is `subsd dbcheck`, the scripts' test of "DATABASE_URL answers":
// it logs in and runs a query, which (unlike pg_isready) also proves that the
// credentials and the database work. On success it prints the URL it checked,
// so a script can derive another database's URL from DATABASE_URL.
func runDBCheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dbcheck", flag.ContinueOnError)
	create := fs.Bool("create", false, "create the database if it does not exist")
	name := fs.String("database", "", "check this database on DATABASE_URL's server instead of DATABASE_URL's own")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the server to answer")
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	cfg, err := parseConfig(getenv)
	if err != nil {
		return err
	}

	dbURL, conn := cfg.DatabaseURL, cfg.Database.ConnConfig.Copy()
	if *name != "" {
		if dbURL, err = withDatabase(dbURL, *name); err != nil {
			return err
		}
		conn.Database = *name
	}
	conn.ConnectTimeout = *timeout

	err = ping(ctx, conn)
	if pgErr := (*pgconn.PgError)(nil); *create && errors.As(err, &pgErr) && pgErr.Code == codeInvalidCatalogName {
		if err = createDatabase(ctx, conn); err == nil {
			err = ping(ctx, conn)
		}
	}
	if err != nil {
		return fmt.Errorf("database %q on %s:%d: %w", conn.Database, conn.Host, conn.Port, err)
	}
	fmt.Fprintln(stdout, dbURL)
	return nil
}

func ping(ctx context.Context, cfg *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return conn.Ping(ctx)
}

// createDatabase creates cfg's database, connecting to the server's
// maintenance database ("postgres", or "template1" where that was dropped)
// as cfg's user. A concurrent creation counts as success.
func createDatabase(ctx context.Context, cfg *pgx.ConnConfig) error {
	var conn *pgx.Conn
	var err error
	for _, maintenance := range []string{"postgres", "template1"} {
		admin := cfg.Copy()
		admin.Database = maintenance
		if conn, err = pgx.ConnectConfig(ctx, admin); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("connecting to create the database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{cfg.Database}.Sanitize())
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == codeDuplicateDatabase {
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating the database: %w", err)
	}
	return nil
}

// withDatabase returns the connection string dsn (a postgres:// URL or a
// keyword/value string) naming database name instead of its own.
func withDatabase(dsn, name string) (string, error) {
	if !strings.Contains(dsn, "://") {
		// In keyword/value strings a later keyword overrides an earlier one.
		quoted := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(name)
		return dsn + " dbname='" + quoted + "'", nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		// url's error quotes the input, which may hold a password.
		return "", errors.New("DATABASE_URL: cannot name another database in it (a multi-host URL?); use key=value form")
	}
	u.Path, u.RawPath = "/"+name, ""
	return u.String(), nil
}
