// Command subsd is the subscription-commerce service: one binary whose
// subcommands serve the API and run the projections and the workers, apply
// migrations, rebuild read models, verify the event log's hash chains and
// check the database.
//
// Configuration comes from the environment (see Config); run `subsd help`
// for the subcommands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	// After the first signal starts the graceful shutdown, restore the
	// default handling so that a second one kills the process at once.
	go func() {
		<-ctx.Done()
		stop()
	}()

	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintf(os.Stderr, "subsd: %v\n", err)
		os.Exit(1)
	}
}

// errUsage reports a command line that could not be parsed; the problem has
// already been written to stderr.
var errUsage = errors.New("usage error")

const usage = `usage: subsd <command> [flags]

commands:
  serve [--role=all|api|projector|worker] [--drain-timeout=20s]
          apply migrations, then serve until SIGINT or SIGTERM
  migrate apply migrations and exit
  replay [--projection=NAME]
          rebuild the read models (or one) from the event log into fresh
          tables and swap them in; serving processes may keep running
  dbcheck [--create] [--database=NAME]
          exit 0 if DATABASE_URL answers, printing its URL (with --database,
          the URL of database NAME on the same server; with --create, create
          the database if it does not exist)
  verify [--max-broken=100] [--quiet]
          check the hash chain of every stream of the event log; print the
          first broken link of each broken stream and exit 1 if any
  version print the version

Configuration is read from the environment: DATABASE_URL, EVENTSTORE_URL,
HTTP_ADDR, API_TOKENS, STRIPE_SECRET_KEY, STRIPE_API_BASE,
STRIPE_WEBHOOK_SECRET, SMTP_URL, MAIL_FROM, BUSINESS_NAME, BUSINESS_ADDRESS,
BUSINESS_RETURN_ADDRESS, BUSINESS_VAT_NUMBER, BUSINESS_TIME_ZONE, TEST_CLOCK,
RATE_LIMIT_RPS, RATE_LIMIT_BURST, SUBSD_DEV.
See README.md.
`

// run is the whole program: main only adds signals and the process's
// environment and streams. End-to-end tests call run directly. It returns
// nil when a command succeeds, including a serve that was stopped by ctx and
// drained in time.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, getenv, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil // a subcommand's -h: its flags were printed
	}
	return err
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, args, getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, args, getenv, stderr)
	case "replay":
		return runReplay(ctx, args, getenv, stdout, stderr)
	case "dbcheck":
		return runDBCheck(ctx, args, getenv, stdout, stderr)
	case "verify":
		return runVerify(ctx, args, getenv, stdout, stderr)
	case "version":
		if err := parseFlags(flag.NewFlagSet("version", flag.ContinueOnError), args, stderr); err != nil {
			return err
		}
		fmt.Fprintln(stdout, versionString())
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprintf(stderr, "subsd: unknown command %q\n\n%s", cmd, usage)
		return errUsage
	}
}

// parseFlags parses a subcommand's flags, which take no positional
// arguments. It returns flag.ErrHelp for -h (the flags have been printed; run
// turns it into success) and errUsage for a bad command line.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "subsd %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	return nil
}

func versionString() string {
	s := "subsd " + version
	if info, ok := debug.ReadBuildInfo(); ok {
		s += " " + info.GoVersion
		for _, kv := range info.Settings {
			if kv.Key == "vcs.revision" {
				s += " " + kv.Value
			}
		}
	}
	return s
}
