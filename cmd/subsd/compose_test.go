package main

import (
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// composeFile is the part of compose.yaml the tests check.
type composeFile struct {
	Services map[string]struct {
		Image       string            `yaml:"image"`
		Build       any               `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
	} `yaml:"services"`
}

// interpolation matches compose's ${NAME} and ${NAME:-default}.
var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}`)

// TestComposeFile keeps compose.yaml, which cannot run here, consistent with
// the code: it parses, has the services the README names, and the subsd
// service's environment (with compose's defaults filled in) is a valid
// configuration that uses EventStoreDB and points at the file's own services.
func TestComposeFile(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../compose.yaml")
	require.NoError(t, err)
	var compose composeFile
	require.NoError(t, yaml.Unmarshal(raw, &compose))

	var names []string
	for name := range compose.Services {
		names = append(names, name)
	}
	require.ElementsMatch(t, []string{"eventstore", "postgres", "stripe-mock", "mailpit", "subsd"}, names)

	app := compose.Services["subsd"]
	require.NotNil(t, app.Build, "subsd is built from the repository's Dockerfile")
	require.Equal(t, []string{"serve"}, app.Command)

	known := knownVariables(t)
	vars := map[string]string{}
	for name, value := range app.Environment {
		require.True(t, known[name], "compose.yaml sets %s, which subsd does not read", name)
		vars[name] = interpolation.ReplaceAllString(value, "$2")
	}
	cfg, err := parseConfig(env(vars))
	require.NoError(t, err)
	require.NotEmpty(t, cfg.EventStoreURL, "the compose stack keeps events in EventStoreDB")
	require.Contains(t, vars, "DATA_KEY", "serve refuses to start without a DATA_KEY")
	var tokenRoles []string
	for _, tok := range cfg.Tokens {
		tokenRoles = append(tokenRoles, tok.Role)
	}
	require.Equal(t, roles, tokenRoles, "a placeholder token for every role")

	hostOf := func(raw string) string {
		u, err := url.Parse(raw)
		require.NoError(t, err)
		return u.Hostname()
	}
	for variable, service := range map[string]string{
		"DATABASE_URL":    "postgres",
		"EVENTSTORE_URL":  "eventstore",
		"STRIPE_API_BASE": "stripe-mock",
		"SMTP_URL":        "mailpit",
	} {
		require.Equal(t, service, hostOf(vars[variable]), "%s should point at the %s service", variable, service)
		require.Contains(t, app.DependsOn, service, "subsd should depend on %s", service)
	}

	for name, dep := range app.DependsOn {
		svc, ok := compose.Services[name]
		require.True(t, ok, "subsd depends on unknown service %s", name)
		if dep.Condition == "service_healthy" {
			require.NotNil(t, svc.Healthcheck, "subsd waits for %s to be healthy, which has no healthcheck", name)
		}
	}
}

// TestReadmeConfigurationTable checks that the README's configuration table
// lists every variable subsd reads, and nothing else.
func TestReadmeConfigurationTable(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	_, table, ok := strings.Cut(string(raw), "\n## Configuration\n")
	require.True(t, ok, "README.md has a Configuration section")
	table, _, _ = strings.Cut(table, "\n## ")

	var listed []string
	for _, m := range regexp.MustCompile("(?m)^\\| (`[A-Z_]+`(?:, `[A-Z_]+`)*) \\|").FindAllStringSubmatch(table, -1) {
		for name := range strings.SplitSeq(m[1], ", ") {
			listed = append(listed, strings.Trim(name, "`"))
		}
	}
	var want []string
	for name := range knownVariables(t) {
		want = append(want, name)
	}
	slices.Sort(want)
	require.ElementsMatch(t, want, listed)
}
