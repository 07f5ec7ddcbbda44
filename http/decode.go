package http

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/subsd/subsd/domain"
)

// The 400s of request bodies.
var (
	errBodyTooLarge = &domain.Error{Kind: domain.KindInvalid, Code: "body_too_large", Message: "the request body is over 1 MiB"}
	errInvalidJSON  = &domain.Error{Kind: domain.KindInvalid, Code: "invalid_json", Message: "the request body is not valid JSON"}
)

func unknownField(path string) *domain.Error {
	return &domain.Error{Kind: domain.KindInvalid, Code: "unknown_field", Message: fmt.Sprintf("unknown field %q", path), Field: path}
}

// decodeJSON reads r's body (at most 1 MiB) into v, a pointer, strictly:
//   - an empty body decodes as {} (commands whose fields are all optional
//     may be sent without one);
//   - a body over 1 MiB is 400 body_too_large; malformed JSON, or anything
//     after the first value, is 400 invalid_json;
//   - a field v does not have, at any depth, is 400 unknown_field with Field
//     its JSON path ("plan.price.amoun", "products[1].quantiy"); names match
//     exactly (encoding/json alone would accept "First_Name" for
//     "first_name");
//   - a value of the wrong JSON type, a number out of its field's range or
//     not an integer where one is wanted, or one a field's UnmarshalJSON or
//     UnmarshalText rejects, is 400 invalid_field naming the path; a
//     *domain.Error from a custom unmarshaler keeps its code and message.
//
// It returns a *domain.Error for every client mistake, so callers pass any
// error to writeError. Validation of the values (required fields, ranges)
// is the handler's.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			return errBodyTooLarge
		}
		return fmt.Errorf("reading the request body: %w", err)
	}
	return decodeBody(body, v)
}

// jsonSpace is JSON's whitespace (RFC 8259), narrower than Unicode's.
const jsonSpace = " \t\r\n"

// decodeBody is decodeJSON on a body already read.
func decodeBody(body []byte, v any) error {
	if len(body) > maxBodyBytes {
		return errBodyTooLarge
	}
	if len(bytes.Trim(body, jsonSpace)) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return syntaxError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		e := *errInvalidJSON
		e.Message = "the request body has data after its JSON value"
		return &e
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		panic("decodeJSON: v must be a non-nil pointer")
	}
	if err := check(tree, rv.Type().Elem(), ""); err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		// check has vetted every value; what is left is a value the
		// standard decoder rejects for its own reasons.
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return domain.Invalid(te.Field, "%s has the wrong type (%s)", label(te.Field), te.Value)
		}
		return domain.Invalid("", "%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

func syntaxError(err error) error {
	e := *errInvalidJSON
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		e.Message = fmt.Sprintf("the request body is not valid JSON: %s (at byte %d)", strings.TrimPrefix(se.Error(), "json: "), se.Offset)
	case errors.Is(err, io.ErrUnexpectedEOF):
		e.Message = "the request body is not valid JSON: it ends early"
	}
	return &e
}

// strictShapes gives, for types whose UnmarshalJSON is lenient about the
// object's fields, the shape check holds their JSON to first, so that an
// unknown or mistyped field inside them is named like any other.
var strictShapes = map[reflect.Type]reflect.Type{
	reflect.TypeFor[domain.Money](): reflect.TypeFor[struct {
		Amount   int64  `json:"amount"`
		Currency string `json:"currency"`
	}](),
}

var (
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	rawMessageType      = reflect.TypeFor[json.RawMessage]()
)

// check walks a decoded JSON value (of any, with json.Number numbers)
// against the Go type it will be decoded into and returns the first
// mismatch, as a *domain.Error naming its path. Object keys are visited in
// sorted order so that the error is the same for the same body.
func check(value any, t reflect.Type, path string) error {
	if value == nil {
		return nil // null leaves any Go value as it is (or sets a pointer nil)
	}
	for t.Kind() == reflect.Pointer {
		if t.Implements(jsonUnmarshalerType) || t.Implements(textUnmarshalerType) {
			break
		}
		t = t.Elem()
	}
	if t == rawMessageType {
		return nil
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshalerType) || t.Implements(jsonUnmarshalerType) {
		if shape, ok := strictShapes[t]; ok {
			if err := check(value, shape, path); err != nil {
				return err
			}
		}
		return callUnmarshalJSON(value, t, path)
	}
	if reflect.PointerTo(t).Implements(textUnmarshalerType) || t.Implements(textUnmarshalerType) {
		s, ok := value.(string)
		if !ok {
			return domain.Invalid(path, "%s must be a string", label(path))
		}
		return callUnmarshalText(s, t, path)
	}

	switch t.Kind() {
	case reflect.Interface:
		if t.NumMethod() == 0 {
			return nil
		}
		return domain.Invalid(path, "%s cannot be decoded", label(path))
	case reflect.Bool:
		if _, ok := value.(bool); !ok {
			return domain.Invalid(path, "%s must be true or false", label(path))
		}
	case reflect.String:
		if _, ok := value.(string); !ok {
			return domain.Invalid(path, "%s must be a string", label(path))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := value.(json.Number)
		if !ok {
			return domain.Invalid(path, "%s must be an integer", label(path))
		}
		i, err := strconv.ParseInt(string(n), 10, t.Bits())
		if err != nil || (t.Bits() < 64 && (i < -1<<(t.Bits()-1) || i >= 1<<(t.Bits()-1))) {
			if isInteger(n) {
				return domain.Invalid(path, "%s is out of range", label(path))
			}
			return domain.Invalid(path, "%s must be an integer", label(path))
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := value.(json.Number)
		if !ok {
			return domain.Invalid(path, "%s must be a non-negative integer", label(path))
		}
		if _, err := strconv.ParseUint(string(n), 10, t.Bits()); err != nil {
			if isInteger(n) && !strings.HasPrefix(string(n), "-") {
				return domain.Invalid(path, "%s is out of range", label(path))
			}
			return domain.Invalid(path, "%s must be a non-negative integer", label(path))
		}
	case reflect.Float32, reflect.Float64:
		n, ok := value.(json.Number)
		if !ok {
			return domain.Invalid(path, "%s must be a number", label(path))
		}
		f, err := strconv.ParseFloat(string(n), t.Bits())
		if err != nil || math.IsInf(f, 0) {
			return domain.Invalid(path, "%s is out of range", label(path))
		}
	case reflect.Slice, reflect.Array:
		if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 && !reflect.PointerTo(t.Elem()).Implements(jsonUnmarshalerType) {
			if _, ok := value.(string); !ok {
				return domain.Invalid(path, "%s must be a base64 string", label(path))
			}
			return nil
		}
		items, ok := value.([]any)
		if !ok {
			return domain.Invalid(path, "%s must be an array", label(path))
		}
		if t.Kind() == reflect.Array && len(items) > t.Len() {
			return domain.Invalid(path, "%s must have at most %d items", label(path), t.Len())
		}
		for i, item := range items {
			if err := check(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		obj, ok := value.(map[string]any)
		if !ok {
			return domain.Invalid(path, "%s must be an object", label(path))
		}
		kt := t.Key()
		for _, k := range slices.Sorted(mapKeys(obj)) {
			p := join(path, k)
			if kt.Kind() != reflect.String && !reflect.PointerTo(kt).Implements(textUnmarshalerType) {
				switch kt.Kind() {
				case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
					reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
					if err := check(json.Number(k), kt, p); err != nil {
						return domain.Invalid(p, "%s has a key that is not an integer", label(p))
					}
				}
			} else if reflect.PointerTo(kt).Implements(textUnmarshalerType) {
				if err := callUnmarshalText(k, kt, p); err != nil {
					return err
				}
			}
			if err := check(obj[k], t.Elem(), p); err != nil {
				return err
			}
		}
	case reflect.Struct:
		obj, ok := value.(map[string]any)
		if !ok {
			return domain.Invalid(path, "%s must be an object", label(path))
		}
		fields := jsonFields(t)
		for _, k := range slices.Sorted(mapKeys(obj)) {
			p := join(path, k)
			f, ok := fields[k]
			if !ok {
				return unknownField(p)
			}
			if f.quoted {
				// ",string": the value is a JSON string holding the value.
				if _, ok := obj[k].(string); !ok && obj[k] != nil {
					return domain.Invalid(p, "%s must be a string", label(p))
				}
				continue
			}
			if err := check(obj[k], f.typ, p); err != nil {
				return err
			}
		}
	default:
		return domain.Invalid(path, "%s cannot be decoded", label(path))
	}
	return nil
}

// label names a JSON path in a message: "plan.price.amount", or "the
// request body" for the whole body.
func label(path string) string {
	if path == "" {
		return "the request body"
	}
	return path
}

func isInteger(n json.Number) bool {
	return !strings.ContainsAny(string(n), ".eE")
}

func mapKeys(m map[string]any) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// join appends an object key to a JSON path: "plan" + "price" =
// "plan.price".
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// callUnmarshalJSON runs t's UnmarshalJSON on value and names path in its
// error.
func callUnmarshalJSON(value any, t reflect.Type, path string) error {
	raw, err := json.Marshal(value)
	if err != nil {
		return domain.Invalid(path, "%s cannot be decoded", label(path))
	}
	var u json.Unmarshaler
	if t.Kind() == reflect.Pointer {
		u = reflect.New(t.Elem()).Interface().(json.Unmarshaler)
	} else {
		u = reflect.New(t).Interface().(json.Unmarshaler)
	}
	return fieldError(u.UnmarshalJSON(raw), path, value)
}

// callUnmarshalText runs t's UnmarshalText on s and names path in its error.
func callUnmarshalText(s string, t reflect.Type, path string) error {
	var u encoding.TextUnmarshaler
	if t.Kind() == reflect.Pointer {
		u = reflect.New(t.Elem()).Interface().(encoding.TextUnmarshaler)
	} else {
		u = reflect.New(t).Interface().(encoding.TextUnmarshaler)
	}
	return fieldError(u.UnmarshalText([]byte(s)), path, s)
}

// fieldError turns a custom unmarshaler's error on value into a 400 naming
// path: a *domain.Error keeps its code and message (and its field is
// appended to path when it names a key of the object value: "currency" in a
// Money; domain types name themselves, "date", when the value is wrong as a
// whole), anything else becomes invalid_field with the error's text.
func fieldError(err error, path string, value any) error {
	if err == nil {
		return nil
	}
	var de *domain.Error
	if errors.As(err, &de) {
		field := path
		if obj, ok := value.(map[string]any); ok && de.Field != "" {
			first, _, _ := strings.Cut(strings.SplitN(de.Field, "[", 2)[0], ".")
			if _, ok := obj[first]; ok {
				field = join(path, de.Field)
			}
		}
		if de.Code == "unknown_field" {
			return unknownField(field)
		}
		return de.WithField(field)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		p := path
		if te.Field != "" {
			p = join(path, te.Field)
		}
		return domain.Invalid(p, "%s has the wrong type (%s)", label(p), te.Value)
	}
	return domain.Invalid(path, "%s: %s", label(path), strings.TrimPrefix(err.Error(), "json: "))
}

// jsonField is a struct field as encoding/json sees it.
type jsonField struct {
	typ    reflect.Type
	quoted bool
}

// jsonFields returns the JSON names of t's fields as encoding/json decodes
// them: tags honoured, "-" skipped, unexported fields skipped, and the fields
// of embedded structs promoted (a shallower field wins a name).
func jsonFields(t reflect.Type) map[string]jsonField {
	if f, ok := fieldCache.Load(t); ok {
		return f.(map[string]jsonField)
	}
	f := computeJSONFields(t)
	fieldCache.Store(t, f)
	return f
}

var fieldCache sync.Map // reflect.Type → map[string]jsonField

func computeJSONFields(t reflect.Type) map[string]jsonField {
	fields := map[string]jsonField{}
	depthOf := map[string]int{}
	var walk func(t reflect.Type, depth int, seen map[reflect.Type]bool)
	walk = func(t reflect.Type, depth int, seen map[reflect.Type]bool) {
		if seen[t] {
			return
		}
		seen[t] = true
		for i := range t.NumField() {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			ft := sf.Type
			if sf.Anonymous && name == "" {
				et := ft
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if et.Kind() == reflect.Struct {
					walk(et, depth+1, seen)
					continue
				}
			}
			if !sf.IsExported() {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			if d, ok := depthOf[name]; ok && d <= depth {
				continue
			}
			depthOf[name] = depth
			quoted := false
			for o := range strings.SplitSeq(opts, ",") {
				if o == "string" {
					quoted = true
				}
			}
			fields[name] = jsonField{typ: ft, quoted: quoted}
		}
	}
	walk(t, 0, map[reflect.Type]bool{})
	return fields
}
