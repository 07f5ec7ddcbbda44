package eventstore_test

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/eventstore"
)

func TestPositionToken(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pos   eventstore.Position
		token string
	}{
		{eventstore.Start, "0"},
		{eventstore.Position{Major: 1, Minor: 0}, "1048576"},
		{eventstore.Position{Major: 751, Minor: 3}, "787480579"},
		{eventstore.Position{Major: 1<<43 - 1, Minor: 1<<20 - 1}, "9223372036854775807"},
		{eventstore.Position{Major: 1 << 43, Minor: 0}, "8796093022208/0"},
		{eventstore.Position{Major: 5, Minor: 1 << 20}, "5/1048576"},
	}
	for _, c := range cases {
		require.Equal(t, c.token, c.pos.Token())
		back, err := eventstore.ParseToken(c.token)
		require.NoError(t, err)
		require.Equal(t, c.pos, back)
	}
	// Integer tokens order like their positions.
	a, b := eventstore.Position{Major: 7, Minor: 1 << 19}, eventstore.Position{Major: 8, Minor: 0}
	require.True(t, a.Less(b))
	ta, err := strconv.ParseUint(a.Token(), 10, 64)
	require.NoError(t, err)
	tb, err := strconv.ParseUint(b.Token(), 10, 64)
	require.NoError(t, err)
	require.Less(t, ta, tb)

	for _, bad := range []string{"", "-1", "x", "1/2/3", "1.5", "9223372036854775808"} {
		_, err := eventstore.ParseToken(bad)
		require.Error(t, err, bad)
	}
}
