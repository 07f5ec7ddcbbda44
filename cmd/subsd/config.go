package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net"
	netmail "net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	// The business time zone must load on a machine without a zoneinfo
	// database (distroless images, fresh containers); embedding it costs
	// about 450 KB.
	_ "time/tzdata"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/subsd/subsd/eventstore/crypto"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/workers/pdf"
)

// Defaults of the variables API.md's "Running" table gives one.
const (
	defaultDatabaseURL      = "postgres://localhost:5432/subsd"
	defaultHTTPAddr         = ":8080"
	defaultBusinessTimeZone = "Europe/Amsterdam"
	// Rate limits per token: generous for people and scripts, a stop for
	// a runaway client (see http.DefaultRateLimit).
	defaultRateLimitRPS = 100
)

// roles are the API roles a token may carry (API.md, "Auth").
var roles = []string{"admin", "support", "scheduler", "auditor"}

// minTokenLength is the length below which serve warns that a bearer token
// is within guessing range (generated tokens are 32 characters). Shorter
// tokens are accepted: API.md sets no length, and a deployment configured
// by it alone must start.
const minTokenLength = 16

// Config is the service's configuration. It is read from the environment
// once, by parseConfig, and is valid by construction: nothing starts with a
// Config that parseConfig rejected.
//
// One exception to "read once, through getenv": parsing DATABASE_URL, pgx
// takes libpq's PG* variables (PGPASSWORD, PGSSLMODE, ...) as defaults for
// what the URL leaves out, as every PostgreSQL client does.
type Config struct {
	// Database is DATABASE_URL parsed: read models, River, and the event
	// store unless EventStoreURL is set.
	Database *pgxpool.Config
	// DatabaseURL is DATABASE_URL as given (it may hold a password: do not
	// log it; log Database.ConnConfig's host, port and database instead).
	DatabaseURL string
	// EventStoreURL, when set, keeps events in EventStoreDB instead of
	// PostgreSQL ("esdb://host:2113?tls=false").
	EventStoreURL string
	// HTTPAddr is where serve listens ("host:port"; port 0 picks one).
	HTTPAddr string
	// Tokens are the API's bearer tokens. Empty is valid here; serve refuses
	// to start the API without tokens unless Dev is set.
	Tokens []Token
	// Dev is SUBSD_DEV: the developer's machine, where serve generates
	// tokens when API_TOKENS is unset and logs as text.
	Dev bool

	// DataKey is DATA_KEY decoded: the 32-byte master key that wraps the
	// customers' data keys (eventstore/crypto). Nil when unset; serve and
	// replay refuse to start without it, except in dev mode, which
	// generates one (openStore).
	DataKey []byte

	StripeSecretKey     string
	StripeAPIBase       string // empty: Stripe's own API
	StripeWebhookSecret string
	SMTPURL             *url.URL // nil: not configured
	// MailFromName and MailFrom are the sender of emails while the email
	// settings name none (MAIL_FROM, "Name <address>" or an address).
	MailFromName string
	MailFrom     domain.Email

	// Business is who issues the invoices and receives returns: the
	// invoice PDF's seller block and the return label's addressee
	// (BUSINESS_NAME, BUSINESS_ADDRESS "street; zipcode; city; CC",
	// BUSINESS_RETURN_ADDRESS, BUSINESS_VAT_NUMBER). It is always set:
	// without BUSINESS_ADDRESS the PDFs are still made (API.md promises
	// them, and its configuration table has no such variable), with the
	// seller's name and no address, and serve warns at start.
	Business *pdf.Business

	// BusinessTimeZone is the zone shipping days and charge dates are
	// computed in.
	BusinessTimeZone *time.Location
	// TestClock enables the test-clock endpoints (TEST_CLOCK=1).
	TestClock bool

	// RateLimitRPS is each API token's sustained request rate
	// (RATE_LIMIT_RPS); 0 turns rate limiting off.
	RateLimitRPS float64
	// RateLimitBurst is each token's burst (RATE_LIMIT_BURST).
	RateLimitBurst int
}

// Token is one API bearer token and the role it grants.
type Token struct {
	Role   string
	Secret string
}

// parseConfig reads the configuration through getenv and validates all of it,
// reporting every bad variable at once, each error naming its variable.
// Error messages never contain secrets.
func parseConfig(getenv func(string) string) (Config, error) {
	var (
		cfg  Config
		errs []error
	)
	fail := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}

	cfg.DatabaseURL = getenvDefault(getenv, "DATABASE_URL", defaultDatabaseURL)
	if db, err := pgxpool.ParseConfig(cfg.DatabaseURL); err != nil {
		// pgx redacts the password in its parse errors.
		fail("DATABASE_URL", "%v", err)
	} else {
		if _, ok := db.ConnConfig.RuntimeParams["application_name"]; !ok {
			db.ConnConfig.RuntimeParams["application_name"] = "subsd"
		}
		cfg.Database = db
	}

	cfg.EventStoreURL = getenv("EVENTSTORE_URL")
	if cfg.EventStoreURL != "" {
		if _, err := esdbclient.ParseConnectionString(cfg.EventStoreURL); err != nil {
			fail("EVENTSTORE_URL", "%v", err)
		}
	}

	cfg.HTTPAddr = getenvDefault(getenv, "HTTP_ADDR", defaultHTTPAddr)
	if _, port, err := net.SplitHostPort(cfg.HTTPAddr); err != nil {
		fail("HTTP_ADDR", "want host:port or :port, got %q", cfg.HTTPAddr)
	} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		fail("HTTP_ADDR", "port %q is not a number from 0 to 65535", port)
	}

	var err error
	if cfg.Tokens, err = parseTokens(getenv("API_TOKENS")); err != nil {
		fail("API_TOKENS", "%v", err)
	}
	if cfg.Dev, err = parseFlag(getenv("SUBSD_DEV")); err != nil {
		fail("SUBSD_DEV", "%v", err)
	}
	if cfg.TestClock, err = parseFlag(getenv("TEST_CLOCK")); err != nil {
		fail("TEST_CLOCK", "%v", err)
	}

	if k := getenv("DATA_KEY"); k != "" {
		if cfg.DataKey, err = parseDataKey(k); err != nil {
			fail("DATA_KEY", "%v", err)
		}
	}

	// Stripe keys are checked by prefix only: it catches the usual mix-ups
	// (a publishable pk_ key, or the webhook secret in the wrong variable).
	cfg.StripeSecretKey = getenv("STRIPE_SECRET_KEY")
	if k := cfg.StripeSecretKey; k != "" && !strings.HasPrefix(k, "sk_") && !strings.HasPrefix(k, "rk_") {
		fail("STRIPE_SECRET_KEY", "want a secret (sk_...) or restricted (rk_...) key")
	}
	cfg.StripeWebhookSecret = getenv("STRIPE_WEBHOOK_SECRET")
	if k := cfg.StripeWebhookSecret; k != "" && !strings.HasPrefix(k, "whsec_") {
		fail("STRIPE_WEBHOOK_SECRET", "want a webhook signing secret (whsec_...)")
	}
	cfg.StripeAPIBase = getenv("STRIPE_API_BASE")
	if b := cfg.StripeAPIBase; b != "" {
		if u, err := url.Parse(b); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fail("STRIPE_API_BASE", "want an http(s) URL such as http://localhost:12111, got %q", b)
		}
	}

	if s := getenv("SMTP_URL"); s != "" {
		u, err := url.Parse(s)
		switch {
		case err != nil:
			// url's errors quote the input, password included.
			fail("SMTP_URL", "not a URL")
		case u.Scheme != "smtp" && u.Scheme != "smtps":
			fail("SMTP_URL", "want smtp://user:pass@host:port or smtps://..., got scheme %q", u.Scheme)
		case u.Hostname() == "":
			fail("SMTP_URL", "no host")
		default:
			cfg.SMTPURL = u
		}
	}

	if v := strings.TrimSpace(getenv("MAIL_FROM")); v != "" {
		if a, err := netmail.ParseAddress(v); err != nil {
			fail("MAIL_FROM", `want an address or "Name <address>", got %q`, v)
		} else if e, err := domain.ParseEmail(a.Address); err != nil {
			fail("MAIL_FROM", "%v", err)
		} else {
			cfg.MailFromName, cfg.MailFrom = a.Name, e
		}
	}
	// Every business variable is read, set or not, so that the list of
	// variables parseConfig reads is the same whatever is set.
	businessName := getenvDefault(getenv, "BUSINESS_NAME", "subsd")
	businessVAT := getenv("BUSINESS_VAT_NUMBER")
	businessReturn := getenv("BUSINESS_RETURN_ADDRESS")
	b := &pdf.Business{Name: businessName, VATNumber: businessVAT, Email: cfg.MailFrom}
	if v := getenv("BUSINESS_ADDRESS"); v != "" {
		if b.Address, err = pdf.ParseAddress(v); err != nil {
			fail("BUSINESS_ADDRESS", "%v", err)
		}
	}
	if businessReturn != "" {
		if b.ReturnAddress, err = pdf.ParseAddress(businessReturn); err != nil {
			fail("BUSINESS_RETURN_ADDRESS", "%v", err)
		}
	}
	if err := b.Validate(); err == nil {
		cfg.Business = b
	} else if len(errs) == 0 {
		fail("BUSINESS_NAME", "%v", err)
	}

	zone := getenvDefault(getenv, "BUSINESS_TIME_ZONE", defaultBusinessTimeZone)
	if zone == "Local" {
		// "Local" would make charge dates depend on the machine's zone.
		fail("BUSINESS_TIME_ZONE", `want an IANA zone name such as "Europe/Amsterdam", not "Local"`)
	} else if cfg.BusinessTimeZone, err = time.LoadLocation(zone); err != nil {
		fail("BUSINESS_TIME_ZONE", "unknown time zone %q", zone)
	}

	cfg.RateLimitRPS = defaultRateLimitRPS
	if v := getenv("RATE_LIMIT_RPS"); v != "" {
		rps, err := strconv.ParseFloat(v, 64)
		if err != nil || rps < 0 || math.IsInf(rps, 0) || math.IsNaN(rps) {
			fail("RATE_LIMIT_RPS", "want requests per second per token, a number ≥ 0 (0 turns limiting off), got %q", v)
		} else {
			cfg.RateLimitRPS = rps
		}
	}
	cfg.RateLimitBurst = int(math.Ceil(2 * cfg.RateLimitRPS))
	if v := getenv("RATE_LIMIT_BURST"); v != "" {
		burst, err := strconv.Atoi(v)
		if err != nil || burst < 1 {
			fail("RATE_LIMIT_BURST", "want a whole number of requests ≥ 1, got %q", v)
		} else {
			cfg.RateLimitBurst = burst
		}
	}

	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("invalid configuration:\n%w", err)
	}
	return cfg, nil
}

func getenvDefault(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

// parseFlag reads an on/off variable: unset or "0" is off, "1" is on
// (strconv.ParseBool's other spellings are accepted too).
func parseFlag(s string) (bool, error) {
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("want 1 or 0, got %q", s)
	}
	return b, nil
}

// parseTokens reads "role:token,role:token,...". A role may have several
// tokens (for rotation); a token may not appear twice, since it would be
// ambiguous which role it grants. Errors name entries by number, never by
// their token.
func parseTokens(s string) ([]Token, error) {
	if s == "" {
		return nil, nil
	}
	var tokens []Token
	seen := map[string]bool{}
	for i, entry := range strings.Split(s, ",") {
		n := i + 1
		role, secret, ok := strings.Cut(strings.TrimSpace(entry), ":")
		switch {
		case strings.TrimSpace(entry) == "":
			return nil, fmt.Errorf("entry %d is empty", n)
		case !ok:
			return nil, fmt.Errorf("entry %d: want role:token", n)
		case !slices.Contains(roles, role):
			return nil, fmt.Errorf("entry %d: unknown role %q (want one of %s)", n, role, strings.Join(roles, ", "))
		case secret == "":
			return nil, fmt.Errorf("entry %d (%s): the token is empty", n, role)
		case strings.ContainsFunc(secret, func(r rune) bool { return r <= ' ' || r > '~' }):
			return nil, fmt.Errorf("entry %d (%s): token has spaces or characters outside printable ASCII", n, role)
		case seen[secret]:
			return nil, fmt.Errorf("entry %d (%s): token already given for another entry", n, role)
		}
		seen[secret] = true
		tokens = append(tokens, Token{Role: role, Secret: secret})
	}
	return tokens, nil
}

// parseDataKey reads DATA_KEY: 32 bytes in base64 (standard or URL
// alphabet, padded or not), as `openssl rand -base64 32` prints them. Its
// errors never quote the key.
func parseDataKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err := enc.DecodeString(s); err == nil {
			if len(key) != crypto.MasterKeySize {
				return nil, fmt.Errorf("want %d bytes in base64 (openssl rand -base64 32), got %d bytes", crypto.MasterKeySize, len(key))
			}
			return key, nil
		}
	}
	return nil, fmt.Errorf("want %d bytes in base64 (openssl rand -base64 32), got something that is not base64", crypto.MasterKeySize)
}

// generateTokens makes one random token per role, for dev mode.
func generateTokens() []Token {
	tokens := make([]Token, len(roles))
	for i, role := range roles {
		b := make([]byte, 24)
		_, _ = rand.Read(b) // crypto/rand.Read never fails
		tokens[i] = Token{Role: role, Secret: base64.RawURLEncoding.EncodeToString(b)}
	}
	return tokens
}

// formatTokens renders tokens as API_TOKENS reads them.
func formatTokens(tokens []Token) string {
	parts := make([]string, len(tokens))
	for i, t := range tokens {
		parts[i] = t.Role + ":" + t.Secret
	}
	return strings.Join(parts, ",")
}
