package domain

import "fmt"

// Kind classifies an Error for the HTTP layer, which maps each kind to one
// status in exactly one place.
type Kind string

// The kinds of Error.
const (
	// KindInvalid is input that can never be accepted (400).
	KindInvalid Kind = "invalid"
	// KindConflict is a command the current state does not allow (409).
	KindConflict Kind = "conflict"
	// KindNotFound is an id that names nothing (404).
	KindNotFound Kind = "not_found"
)

// Error is the one application error type. Code is a stable snake_case
// identifier a client can act on; Message is a human sentence; Field, when
// set, is the JSON path of the offending input.
//
// Business-rule violations are package-level sentinels (ErrXxx) compared with
// errors.Is, which matches on Code so that a copy carrying a Field still
// matches its sentinel.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Field   string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("%s: %s (%s)", e.Code, e.Message, e.Field)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// WithField returns a copy of e that names field.
func (e *Error) WithField(field string) *Error {
	c := *e
	c.Field = field
	return &c
}

// Invalid returns a KindInvalid error with code "invalid_field" naming field.
func Invalid(field, format string, args ...any) *Error {
	return &Error{Kind: KindInvalid, Code: CodeInvalidField, Message: fmt.Sprintf(format, args...), Field: field}
}

// CodeInvalidField is the code of every field validation error.
const CodeInvalidField = "invalid_field"

// ErrInvalid matches every error made by Invalid.
var ErrInvalid = &Error{Kind: KindInvalid, Code: CodeInvalidField, Message: "invalid input"}

// Conflict returns a new sentinel of KindConflict.
func Conflict(code, message string) *Error {
	return &Error{Kind: KindConflict, Code: code, Message: message}
}

// NotFound returns a new sentinel of KindNotFound.
func NotFound(code, message string) *Error {
	return &Error{Kind: KindNotFound, Code: code, Message: message}
}

// ErrCurrencyMismatch is returned by Money arithmetic on two currencies.
var ErrCurrencyMismatch = &Error{Kind: KindInvalid, Code: "currency_mismatch", Message: "amounts in different currencies cannot be combined"}

// ErrAmountOverflow is returned when an amount leaves the int64 range.
var ErrAmountOverflow = &Error{Kind: KindInvalid, Code: "amount_out_of_range", Message: "amount is out of range"}
