package crypto

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPersonalValues(t *testing.T) {
	t.Parallel()
	root := trie([]string{"email", "address.city", "address.street", "note"})
	tests := []struct {
		name string
		data string
		want []string // "path=raw"
	}{
		{"flat and nested", `{"id":"x","email":"a@b.nl","address":{"street":"S 1","city":"Adam","country":"NL"}}`,
			[]string{`email="a@b.nl"`, `address.street="S 1"`, `address.city="Adam"`}},
		{"whitespace", " {\n \"email\" :\t\"a@b.nl\" , \"address\" : { \"city\" : \"X\" } }\n",
			[]string{`email="a@b.nl"`, `address.city="X"`}},
		{"null is nothing to hide", `{"email":null,"address":null}`, nil},
		{"an address that is not an object", `{"address":"somewhere"}`, nil},
		{"other values are skipped whole", `{"lines":[{"email":"no"},"}",{"a":[1,{"b":"\"}"}]}],"n":-1.5e3,"t":true,"email":"yes"}`,
			[]string{`email="yes"`}},
		{"escapes in strings", `{"note":"say \"hi\" \\ {}","email":"x"}`, []string{`note="say \"hi\" \\ {}"`, `email="x"`}},
		{"an escaped key", `{"em\u0061il":"x"}`, []string{`email="x"`}},
		{"a duplicate key yields both", `{"email":"first","email":"second"}`, []string{`email="first"`, `email="second"`}},
		{"non-string values are values too", `{"note":{"free":"text"},"email":42}`, []string{`note={"free":"text"}`, `email=42`}},
		{"not an object", `["email","x"]`, nil},
		{"empty object", `{}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			spans, err := personalValues([]byte(tt.data), root)
			require.NoError(t, err)
			var got []string
			for _, s := range spans {
				got = append(got, s.path+"="+tt.data[s.start:s.end])
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestPersonalValuesMalformed(t *testing.T) {
	t.Parallel()
	root := trie([]string{"email"})
	for _, data := range []string{`{"email":"x`, `{"email"}`, `{"email":"x",}`, `{"email" "x"}`, `{"a":[1,2}`, `{"a":}`, `{`} {
		_, err := personalValues([]byte(data), root)
		require.Error(t, err, data)
	}
}

func TestSplice(t *testing.T) {
	t.Parallel()
	data := []byte(`{"a":"x","b":1,"c":"yy"}`)
	spans, err := personalValues(data, trie([]string{"a", "c"}))
	require.NoError(t, err)
	require.Equal(t, `{"a":null,"b":1,"c":"zzz"}`, string(splice(data, spans, [][]byte{[]byte("null"), []byte(`"zzz"`)})))
}

// FuzzPersonalValues: on any valid JSON object the scanner finds the same
// values encoding/json does (the last of duplicate keys being the one
// encoding/json keeps), each a valid JSON value, and never panics.
func FuzzPersonalValues(f *testing.F) {
	for _, seed := range []string{
		`{"email":"a","address":{"city":"b"}}`, `{"email":"\u00e9\"","x":[{"email":1}]}`,
		`{"address":{"city":{"deep":["]"]}}}`, `{"email":null}`, `{"email":"a","email":"b"}`, `{"email":"a","email":null}`,
	} {
		f.Add([]byte(seed))
	}
	root := trie([]string{"email", "address.city"})
	f.Fuzz(func(t *testing.T, data []byte) {
		spans, err := personalValues(data, root)
		if !json.Valid(data) {
			return // the store passes invalid data on for the store to refuse
		}
		require.NoError(t, err)
		var doc map[string]json.RawMessage
		if json.Unmarshal(data, &doc) != nil {
			require.Empty(t, spans, "not an object")
			return
		}
		last := map[string][]byte{}
		for _, s := range spans {
			raw := data[s.start:s.end]
			require.True(t, json.Valid(raw), "span %q", raw)
			last[s.path] = raw
		}
		switch raw, ok := doc["email"]; {
		case !ok:
			require.NotContains(t, last, "email")
		case !bytes.Equal(raw, []byte("null")):
			require.Equal(t, compact(t, raw), compact(t, last["email"]))
		}
		require.Equal(t, string(data), string(splice(data, spans, raws(data, spans))))
	})
}

func raws(data []byte, spans []span) [][]byte {
	out := make([][]byte, len(spans))
	for i, s := range spans {
		out[i] = data[s.start:s.end]
	}
	return out
}

func compact(t *testing.T, raw []byte) string {
	var b bytes.Buffer
	require.NoError(t, json.Compact(&b, raw))
	return strings.TrimSpace(b.String())
}
