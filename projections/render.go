package projections

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/subsd/subsd/domain"
)

// jsonWriter renders a document by appending to a byte slice. Documents are
// written by hand rather than with encoding/json because rendering is the
// hot loop of a rebuild (reflection costs several times more), because the
// output must be byte-for-byte deterministic (live and rebuilt read models
// are compared byte by byte), and because a few values are holes the Reader
// fills in at read time (see patch.go), whose offsets only a writer that
// knows where it is can record.
//
// The writer tracks one flag, comma: whether the next key or array element
// needs a separating comma. Every method that starts a value or key writes
// the comma itself, so rendering code reads like the document it writes.
type jsonWriter struct {
	b     []byte
	holes []int64
	comma bool
}

func (w *jsonWriter) sep() {
	if w.comma {
		w.b = append(w.b, ',')
	}
}

// obj opens an object (as an array element or a key's value).
func (w *jsonWriter) obj() {
	w.sep()
	w.b = append(w.b, '{')
	w.comma = false
}

// end closes an object.
func (w *jsonWriter) end() {
	w.b = append(w.b, '}')
	w.comma = true
}

// arr opens an array.
func (w *jsonWriter) arr() {
	w.sep()
	w.b = append(w.b, '[')
	w.comma = false
}

// endArr closes an array.
func (w *jsonWriter) endArr() {
	w.b = append(w.b, ']')
	w.comma = true
}

// key writes `"name":`; name must need no escaping (it is a constant of
// this package).
func (w *jsonWriter) key(name string) {
	w.sep()
	w.b = append(w.b, '"')
	w.b = append(w.b, name...)
	w.b = append(w.b, '"', ':')
	w.comma = false
}

func (w *jsonWriter) null() {
	w.sep()
	w.b = append(w.b, "null"...)
	w.comma = true
}

func (w *jsonWriter) str(s string) {
	w.sep()
	w.b = appendJSONString(w.b, s)
	w.comma = true
}

// strOrNull writes s, or null for "".
func (w *jsonWriter) strOrNull(s string) {
	if s == "" {
		w.null()
		return
	}
	w.str(s)
}

func (w *jsonWriter) int(n int64) {
	w.sep()
	w.b = strconv.AppendInt(w.b, n, 10)
	w.comma = true
}

func (w *jsonWriter) bool(v bool) {
	w.sep()
	w.b = strconv.AppendBool(w.b, v)
	w.comma = true
}

// time writes an instant as RFC 3339 in UTC (fractional seconds only when
// there are any), or null for the zero time.
func (w *jsonWriter) time(t time.Time) {
	if t.IsZero() {
		w.null()
		return
	}
	w.sep()
	w.b = append(w.b, '"')
	w.b = t.UTC().AppendFormat(w.b, time.RFC3339Nano)
	w.b = append(w.b, '"')
	w.comma = true
}

// timePtr writes *t, or null.
func (w *jsonWriter) timePtr(t *time.Time) {
	if t == nil {
		w.null()
		return
	}
	w.time(*t)
}

// date writes a calendar day as YYYY-MM-DD, or null for the zero Date.
func (w *jsonWriter) date(d domain.Date) {
	if d.IsZero() {
		w.null()
		return
	}
	w.str(d.String())
}

// money writes {"amount":n,"currency":"EUR"}, or null for the zero Money
// (no currency: "nothing yet").
func (w *jsonWriter) money(m domain.Money) {
	if m.Currency() == "" {
		w.null()
		return
	}
	w.obj()
	w.key("amount")
	w.int(m.Amount())
	w.key("currency")
	w.str(string(m.Currency()))
	w.end()
}

// moneyOr writes m, or zero of currency when m has none (a total that
// starts at nothing).
func (w *jsonWriter) moneyOr(m domain.Money, currency domain.Currency) {
	if m.Currency() == "" {
		m = domain.Zero(currency)
	}
	w.money(m)
}

func (w *jsonWriter) address(a domain.Address) {
	w.obj()
	w.key("street")
	w.str(a.Street)
	w.key("zipcode")
	w.str(a.Zipcode)
	w.key("city")
	w.str(a.City)
	w.key("country")
	w.str(string(a.Country))
	w.end()
}

// addressPtr writes *a, or null.
func (w *jsonWriter) addressPtr(a *domain.Address) {
	if a == nil {
		w.null()
		return
	}
	w.address(*a)
}

func (w *jsonWriter) interval(iv domain.Interval) {
	if iv.Unit == "" {
		w.null()
		return
	}
	w.obj()
	w.key("unit")
	w.str(string(iv.Unit))
	w.key("count")
	w.int(int64(iv.Count))
	w.end()
}

// hole writes placeholder, a valid JSON value, and records it as a hole of
// kind with args for the Reader to fill in (see patch.go).
func (w *jsonWriter) hole(kind holeKind, placeholder string, args ...int64) {
	w.sep()
	w.holes = append(w.holes, int64(kind), int64(len(w.b)), int64(len(placeholder)), int64(len(args)))
	w.holes = append(w.holes, args...)
	w.b = append(w.b, placeholder...)
	w.comma = true
}

// bytes returns the rendered document.
func (w *jsonWriter) bytes() []byte { return w.b }

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Control characters are
// escaped, invalid UTF-8 becomes U+FFFD (as encoding/json does), and nothing
// else is: the output is for API clients, not for embedding in HTML.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript parsers
		// that treat JSON as script; encoding/json escapes them too.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
