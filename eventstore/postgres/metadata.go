package postgres

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/subsd/subsd/eventstore"
)

// decodeMetadata decodes an event's metadata column.
//
// Decoding metadata was the largest client cost of reading (json.Unmarshal
// took ~45% of ReadAll's CPU), so the shape Append writes — json.Marshal of
// eventstore.Metadata: an object of plain strings — is parsed directly, and
// anything else (escapes, other keys, whitespace, other values) goes to
// json.Unmarshal, which defines the result. FuzzDecodeMetadata checks the two
// agree.
func decodeMetadata(b []byte, m *eventstore.Metadata) error {
	if decodeMetadataFast(b, m) {
		return nil
	}
	*m = eventstore.Metadata{}
	return json.Unmarshal(b, m)
}

// decodeMetadataFast decodes b into m and reports true if b is an object of
// known keys with plain string values (no escapes, no whitespace); otherwise
// it leaves m alone and reports false.
func decodeMetadataFast(b []byte, m *eventstore.Metadata) bool {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' || bytes.IndexByte(b, '\\') >= 0 {
		return false
	}
	var out eventstore.Metadata
	rest := b[1 : len(b)-1]
	for len(rest) > 0 {
		key, r, ok := plainString(rest)
		if !ok || len(r) == 0 || r[0] != ':' {
			return false
		}
		value, r, ok := plainString(r[1:])
		if !ok {
			return false
		}
		switch string(key) {
		case "actor":
			out.Actor = string(value)
		case "correlation_id":
			out.CorrelationID = string(value)
		case "causation_id":
			out.CausationID = string(value)
		case "occurred_at":
			// UnmarshalText parses as strictly as UnmarshalJSON does.
			if err := out.OccurredAt.UnmarshalText(value); err != nil {
				return false
			}
		default:
			return false
		}
		switch {
		case len(r) == 0:
			rest = nil
		case r[0] == ',' && len(r) > 1:
			rest = r[1:]
		default:
			return false
		}
	}
	*m = out
	return true
}

// plainString reads a JSON string without escapes at the start of b and
// returns its contents and what follows it.
func plainString(b []byte) (s, rest []byte, ok bool) {
	if len(b) == 0 || b[0] != '"' {
		return nil, nil, false
	}
	end := bytes.IndexByte(b[1:], '"')
	if end < 0 {
		return nil, nil, false
	}
	s = b[1 : 1+end]
	for _, c := range s {
		if c < 0x20 {
			return nil, nil, false // invalid in JSON: leave it to the decoder
		}
	}
	if !utf8.Valid(s) {
		return nil, nil, false // the decoder replaces invalid bytes
	}
	return s, b[2+end:], true
}
