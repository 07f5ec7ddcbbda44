package crypto

import (
	"bytes"
	"encoding/json"
	"errors"
)

// The decorator edits event data in place: it finds the values at the
// personal paths with the small scanner below and splices their
// replacements in, leaving every other byte as the caller wrote it. A
// decode/re-encode round trip through encoding/json would reorder keys and
// re-escape strings, so history would no longer show the bytes that were
// appended, and a decrypted event would not be the event that was written.

// errMalformed is returned for data that is not the JSON it should be.
var errMalformed = errors.New("malformed JSON")

// span is a value found at a personal path: data[start:end] is its JSON.
type span struct {
	start, end int
	path       string
}

// personalValues returns the values at the leaves of root in the JSON
// object data, in document order. JSON null is skipped (nothing to hide);
// so is a member that should lead to a leaf but is not an object. A key
// that occurs twice yields both values (encoding/json would take the last,
// so neither may stay readable). Data that is not an object has none.
func personalValues(data []byte, root *node) ([]span, error) {
	s := scanner{b: data}
	s.ws()
	if s.peek() != '{' {
		return nil, nil
	}
	return s.object(root, nil)
}

// stringMember returns the string value of the top-level member name of the
// JSON object data, and false when there is none (or it is not a string).
func stringMember(data []byte, name string) (string, bool) {
	spans, err := personalValues(data, trie([]string{name}))
	if err != nil || len(spans) == 0 {
		return "", false
	}
	var v string
	last := spans[len(spans)-1]
	if json.Unmarshal(data[last.start:last.end], &v) != nil {
		return "", false
	}
	return v, true
}

// splice returns data with each span replaced by the replacement at the same
// index. spans are in document order and do not overlap.
func splice(data []byte, spans []span, replacements [][]byte) []byte {
	n := len(data)
	for i, sp := range spans {
		n += len(replacements[i]) - (sp.end - sp.start)
	}
	out := make([]byte, 0, n)
	at := 0
	for i, sp := range spans {
		out = append(out, data[at:sp.start]...)
		out = append(out, replacements[i]...)
		at = sp.end
	}
	return append(out, data[at:]...)
}

// scanner walks JSON text without decoding it. It checks only what it needs
// to find its way; the store validates data with json.Valid on the way in.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// object scans the object at s.i, appending to out the values at n's leaves.
func (s *scanner) object(n *node, out []span) ([]span, error) {
	s.i++ // {
	s.ws()
	if s.peek() == '}' {
		s.i++
		return out, nil
	}
	for {
		s.ws()
		if s.peek() != '"' {
			return nil, errMalformed
		}
		keyStart := s.i
		if err := s.str(); err != nil {
			return nil, err
		}
		child := n.children[key(s.b[keyStart:s.i])]
		s.ws()
		if s.peek() != ':' {
			return nil, errMalformed
		}
		s.i++
		s.ws()
		start := s.i
		var err error
		switch {
		case child != nil && child.leaf:
			if err = s.value(); err == nil && !bytes.Equal(s.b[start:s.i], []byte("null")) {
				out = append(out, span{start: start, end: s.i, path: child.path})
			}
		case child != nil && s.peek() == '{':
			out, err = s.object(child, out)
		default:
			err = s.value()
		}
		if err != nil {
			return nil, err
		}
		s.ws()
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return out, nil
		default:
			return nil, errMalformed
		}
	}
}

// key returns the text of the quoted JSON string raw. Member names of event
// data are plain ASCII; one with escapes is decoded properly.
func key(raw []byte) string {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner)
	}
	var k string
	if json.Unmarshal(raw, &k) != nil {
		return string(inner)
	}
	return k
}

// str skips the string at s.i.
func (s *scanner) str() error {
	s.i++ // "
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case '\\':
			s.i += 2
		case '"':
			s.i++
			return nil
		default:
			s.i++
		}
	}
	return errMalformed
}

// value skips the value at s.i.
func (s *scanner) value() error {
	switch s.peek() {
	case '"':
		return s.str()
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if err := s.str(); err != nil {
					return err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return nil
				}
			}
			s.i++
		}
		return errMalformed
	default: // number, true, false, null
		start := s.i
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				if s.i == start {
					return errMalformed
				}
				return nil
			}
			s.i++
		}
		if s.i == start {
			return errMalformed
		}
		return nil
	}
}
