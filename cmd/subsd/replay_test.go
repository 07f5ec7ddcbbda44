package main

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/eventstore/postgres/pgtest"
	"github.com/subsd/subsd/projections"
)

func TestReplay(t *testing.T) {
	t.Parallel()
	vars := env(map[string]string{"DATABASE_URL": pgtest.NewDatabase(t)})

	// On a database serve has never seen: replay migrates first.
	var stdout, logs bytes.Buffer
	require.NoError(t, run(t.Context(), []string{"replay"}, vars, &stdout, &logs), "logs:\n%s", logs.String())
	require.Contains(t, stdout.String(), "rebuilt ")
	for _, name := range projections.Names() {
		require.Contains(t, stdout.String(), name)
	}

	stdout.Reset()
	name := projections.Names()[0]
	require.NoError(t, run(t.Context(), []string{"replay", "--projection=" + name}, vars, &stdout, &logs), "logs:\n%s", logs.String())
	require.Contains(t, stdout.String(), "rebuilt "+name+" in ")

	var stderr bytes.Buffer
	err := run(t.Context(), []string{"replay", "--projection=nope"}, vars, io.Discard, &stderr)
	require.ErrorIs(t, err, errUsage)
	require.Contains(t, stderr.String(), `unknown projection "nope"`)
}
