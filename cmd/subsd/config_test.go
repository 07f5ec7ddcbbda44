package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/http"
)

// env returns a getenv over vars. DATA_KEY, which serve and replay require,
// is testDataKey unless vars names it (an empty value leaves it unset).
func env(vars map[string]string) func(string) string {
	return func(name string) string {
		if v, ok := vars[name]; ok || name != "DATA_KEY" {
			return v
		}
		return testDataKey
	}
}

// testDataKey is the DATA_KEY of the tests: 32 bytes, base64.
const testDataKey = "c3Vic2QgdGVzdCBkYXRhIGtleSwgMzIgYnl0ZXMhISE="

const (
	adminToken   = "admin-token-0123456789"
	auditorToken = "auditor-token-0123456789"
)

func TestParseConfigDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := parseConfig(env(nil))
	require.NoError(t, err)

	require.Equal(t, defaultDatabaseURL, cfg.DatabaseURL)
	require.Equal(t, "localhost", cfg.Database.ConnConfig.Host)
	require.Equal(t, uint16(5432), cfg.Database.ConnConfig.Port)
	require.Equal(t, "subsd", cfg.Database.ConnConfig.Database)
	require.Equal(t, "subsd", cfg.Database.ConnConfig.RuntimeParams["application_name"])
	require.Empty(t, cfg.EventStoreURL)
	require.Equal(t, ":8080", cfg.HTTPAddr)
	require.Empty(t, cfg.Tokens)
	require.False(t, cfg.Dev)
	require.False(t, cfg.TestClock)
	require.Nil(t, cfg.SMTPURL)
	require.Equal(t, "Europe/Amsterdam", cfg.BusinessTimeZone.String())
}

func TestParseConfigEverythingSet(t *testing.T) {
	t.Parallel()
	cfg, err := parseConfig(env(map[string]string{
		"DATABASE_URL":          "postgres://subsd:pw@db.internal:6543/prod?sslmode=require&application_name=subsd-api",
		"EVENTSTORE_URL":        "esdb://eventstore:2113?tls=false",
		"HTTP_ADDR":             "127.0.0.1:0",
		"API_TOKENS":            " admin:" + adminToken + ", auditor:" + auditorToken + ",admin:second-admin-token-42 ",
		"SUBSD_DEV":             "1",
		"STRIPE_SECRET_KEY":     "sk_test_123",
		"STRIPE_API_BASE":       "http://localhost:12111",
		"STRIPE_WEBHOOK_SECRET": "whsec_abc",
		"SMTP_URL":              "smtp://user:pass@mail:1025",
		"BUSINESS_TIME_ZONE":    "America/New_York",
		"TEST_CLOCK":            "1",
		"DATA_KEY":              testDataKey,
	}))
	require.NoError(t, err)
	require.Equal(t, []byte("subsd test data key, 32 bytes!!!"), cfg.DataKey)

	require.Equal(t, "db.internal", cfg.Database.ConnConfig.Host)
	require.Equal(t, "subsd-api", cfg.Database.ConnConfig.RuntimeParams["application_name"], "the URL's application_name wins")
	require.Equal(t, "esdb://eventstore:2113?tls=false", cfg.EventStoreURL)
	require.Equal(t, "127.0.0.1:0", cfg.HTTPAddr)
	require.Equal(t, []Token{
		{Role: "admin", Secret: adminToken},
		{Role: "auditor", Secret: auditorToken},
		{Role: "admin", Secret: "second-admin-token-42"},
	}, cfg.Tokens)
	require.True(t, cfg.Dev)
	require.Equal(t, "sk_test_123", cfg.StripeSecretKey)
	require.Equal(t, "http://localhost:12111", cfg.StripeAPIBase)
	require.Equal(t, "whsec_abc", cfg.StripeWebhookSecret)
	require.Equal(t, "mail:1025", cfg.SMTPURL.Host)
	require.Equal(t, "America/New_York", cfg.BusinessTimeZone.String())
	require.True(t, cfg.TestClock)
}

func TestParseConfigErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		vars map[string]string
		// wantErr are substrings of the error; the first is always the
		// variable's name.
		wantErr []string
	}{
		{"DatabaseNotAURL", map[string]string{"DATABASE_URL": "not a url"}, []string{"DATABASE_URL:"}},
		{"DatabaseBadPort", map[string]string{"DATABASE_URL": "postgres://u:hunter2@host:x/db"}, []string{"DATABASE_URL:", "invalid port"}},
		{"DatabaseWrongScheme", map[string]string{"DATABASE_URL": "mysql://host/db"}, []string{"DATABASE_URL:"}},
		{"EventStoreWrongScheme", map[string]string{"EVENTSTORE_URL": "http://eventstore:2113"}, []string{"EVENTSTORE_URL:", "esdb://"}},
		{"HTTPAddrNoPort", map[string]string{"HTTP_ADDR": "localhost"}, []string{"HTTP_ADDR:", "host:port"}},
		{"HTTPAddrBadPort", map[string]string{"HTTP_ADDR": ":http-alt"}, []string{"HTTP_ADDR:", "0 to 65535"}},
		{"HTTPAddrPortTooBig", map[string]string{"HTTP_ADDR": ":70000"}, []string{"HTTP_ADDR:", "0 to 65535"}},
		{"TokensUnknownRole", map[string]string{"API_TOKENS": "root:" + adminToken}, []string{"API_TOKENS:", `entry 1: unknown role "root"`}},
		{"TokensNoColon", map[string]string{"API_TOKENS": "admin:" + adminToken + "," + auditorToken}, []string{"API_TOKENS:", "entry 2: want role:token"}},
		{"TokensEmptyEntry", map[string]string{"API_TOKENS": "admin:" + adminToken + ","}, []string{"API_TOKENS:", "entry 2 is empty"}},
		{"TokensEmpty", map[string]string{"API_TOKENS": "admin:"}, []string{"API_TOKENS:", "entry 1 (admin): the token is empty"}},
		{"TokensSpace", map[string]string{"API_TOKENS": "admin:admin token 0123456789"}, []string{"API_TOKENS:", "spaces"}},
		{"TokensDuplicate", map[string]string{"API_TOKENS": "admin:" + adminToken + ",auditor:" + adminToken}, []string{"API_TOKENS:", "entry 2 (auditor): token already given"}},
		{"DevNotABool", map[string]string{"SUBSD_DEV": "yes"}, []string{"SUBSD_DEV:", `"yes"`}},
		{"TestClockNotABool", map[string]string{"TEST_CLOCK": "on"}, []string{"TEST_CLOCK:", `"on"`}},
		{"StripePublishableKey", map[string]string{"STRIPE_SECRET_KEY": "pk_test_123"}, []string{"STRIPE_SECRET_KEY:", "sk_"}},
		{"StripeWebhookSecretSwapped", map[string]string{"STRIPE_WEBHOOK_SECRET": "sk_test_123"}, []string{"STRIPE_WEBHOOK_SECRET:", "whsec_"}},
		{"StripeAPIBaseNoScheme", map[string]string{"STRIPE_API_BASE": "localhost:12111"}, []string{"STRIPE_API_BASE:"}},
		{"SMTPWrongScheme", map[string]string{"SMTP_URL": "http://mail:1025"}, []string{"SMTP_URL:", `"http"`}},
		{"SMTPNoHost", map[string]string{"SMTP_URL": "smtp:///"}, []string{"SMTP_URL:", "no host"}},
		{"SMTPNotAURL", map[string]string{"SMTP_URL": "smtp://user:p%zz@mail"}, []string{"SMTP_URL:", "not a URL"}},
		{"ZoneUnknown", map[string]string{"BUSINESS_TIME_ZONE": "Europe/Atlantis"}, []string{"BUSINESS_TIME_ZONE:", `"Europe/Atlantis"`}},
		{"ZoneLocal", map[string]string{"BUSINESS_TIME_ZONE": "Local"}, []string{"BUSINESS_TIME_ZONE:", "IANA"}},
		{"RateNotANumber", map[string]string{"RATE_LIMIT_RPS": "fast"}, []string{"RATE_LIMIT_RPS:", `"fast"`}},
		{"RateNegative", map[string]string{"RATE_LIMIT_RPS": "-1"}, []string{"RATE_LIMIT_RPS:", "≥ 0"}},
		{"RateInfinite", map[string]string{"RATE_LIMIT_RPS": "+Inf"}, []string{"RATE_LIMIT_RPS:"}},
		{"BurstZero", map[string]string{"RATE_LIMIT_BURST": "0"}, []string{"RATE_LIMIT_BURST:", "≥ 1"}},
		{"BurstFraction", map[string]string{"RATE_LIMIT_BURST": "2.5"}, []string{"RATE_LIMIT_BURST:"}},
		{"DataKeyShort", map[string]string{"DATA_KEY": "c2hvcnQta2V5LTE2Ynl0ZQ=="}, []string{"DATA_KEY:", "want 32 bytes", "got 16 bytes"}},
		{"DataKeyNotBase64", map[string]string{"DATA_KEY": "hunter2 is my key!"}, []string{"DATA_KEY:", "not base64"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseConfig(env(tt.vars))
			require.Error(t, err)
			for _, want := range tt.wantErr {
				require.Contains(t, err.Error(), want)
			}
			// No secret ever reaches an error message.
			for _, secret := range []string{"hunter2", "c2hvcnQta2V5LTE2Ynl0ZQ==", adminToken, auditorToken, "admin token 0123456789", "p%zz", "pk_test_123", "sk_test_123"} {
				require.NotContains(t, err.Error(), secret)
			}
		})
	}
}

// TestParseConfigReportsEveryError checks that a broken environment is
// reported in one go, not one variable per restart.
func TestParseConfigReportsEveryError(t *testing.T) {
	t.Parallel()
	_, err := parseConfig(env(map[string]string{
		"DATABASE_URL":       "not a url",
		"HTTP_ADDR":          "nope",
		"API_TOKENS":         "root:x",
		"BUSINESS_TIME_ZONE": "Mars/Olympus_Mons",
	}))
	require.Error(t, err)
	for _, name := range []string{"DATABASE_URL:", "HTTP_ADDR:", "API_TOKENS:", "BUSINESS_TIME_ZONE:"} {
		require.Contains(t, err.Error(), name)
	}
}

func TestParseConfigRateLimit(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		rps, burst string
		want       http.RateLimit
	}{
		{"", "", http.RateLimit{PerSecond: 100, Burst: 200}},
		{"20", "", http.RateLimit{PerSecond: 20, Burst: 40}},
		{"0.5", "", http.RateLimit{PerSecond: 0.5, Burst: 1}},
		{"20", "5", http.RateLimit{PerSecond: 20, Burst: 5}},
		{"0", "", http.RateLimit{PerSecond: -1}},
		{"0", "7", http.RateLimit{PerSecond: -1}},
	} {
		cfg, err := parseConfig(env(map[string]string{"RATE_LIMIT_RPS": tt.rps, "RATE_LIMIT_BURST": tt.burst}))
		require.NoError(t, err)
		require.Equal(t, tt.want, rateLimit(cfg), "RATE_LIMIT_RPS=%q RATE_LIMIT_BURST=%q", tt.rps, tt.burst)
	}
}

func TestGeneratedTokensParse(t *testing.T) {
	t.Parallel()
	generated := generateTokens()
	require.Len(t, generated, len(roles))

	parsed, err := parseTokens(formatTokens(generated))
	require.NoError(t, err)
	require.Equal(t, generated, parsed)
	require.NotEqual(t, generated[0].Secret, generateTokens()[0].Secret)
}

func TestWithDatabase(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ dsn, want string }{
		{"postgres://u:p@host:5432/subsd?sslmode=disable", "postgres://u:p@host:5432/subsd_test?sslmode=disable"},
		{"postgres://localhost", "postgres://localhost/subsd_test"},
		{"host=/tmp user=me dbname=subsd", "host=/tmp user=me dbname=subsd dbname='subsd_test'"},
		{"postgres://u:p@h1:5432,h2:5433/subsd", "postgres://u:p@h1:5432,h2:5433/subsd_test"},
	} {
		got, err := withDatabase(tt.dsn, "subsd_test")
		require.NoError(t, err)
		require.Equal(t, tt.want, got)
		_, err = parseConfig(env(map[string]string{"DATABASE_URL": got}))
		require.NoError(t, err)
	}
}

// knownVariables returns every variable parseConfig reads.
func knownVariables(t *testing.T) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	_, err := parseConfig(func(name string) string {
		seen[name] = true
		return ""
	})
	require.NoError(t, err)
	return seen
}

func TestKnownVariablesMatchAPIRunningTable(t *testing.T) {
	t.Parallel()
	var names []string
	for name := range knownVariables(t) {
		names = append(names, name)
	}
	require.ElementsMatch(t, strings.Fields(`DATABASE_URL EVENTSTORE_URL HTTP_ADDR API_TOKENS SUBSD_DEV
		STRIPE_SECRET_KEY STRIPE_API_BASE STRIPE_WEBHOOK_SECRET SMTP_URL BUSINESS_TIME_ZONE TEST_CLOCK
		RATE_LIMIT_RPS RATE_LIMIT_BURST DATA_KEY
		MAIL_FROM BUSINESS_NAME BUSINESS_ADDRESS BUSINESS_RETURN_ADDRESS BUSINESS_VAT_NUMBER`), names)
}
