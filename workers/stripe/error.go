package stripe

import (
	"errors"
	"fmt"
	"net/http"

	stripego "github.com/stripe/stripe-go/v76"
)

// ErrorKind says what a caller can do about a failed Stripe call.
type ErrorKind string

// The error kinds.
const (
	// KindDeclined: the payment was refused (a card_error): an outcome, to
	// be recorded as a failed attempt with its decline code. Retrying the
	// same request returns the same decline.
	KindDeclined ErrorKind = "declined"
	// KindInvalid: Stripe refused the request itself (no such payment
	// method or customer, an amount it does not accept, an idempotency key
	// reused with other parameters). Retrying cannot help.
	KindInvalid ErrorKind = "invalid"
	// KindUnavailable: the network, a 409 lock, a 429 rate limit or a 5xx.
	// Retrying with the same idempotency key is safe and may succeed.
	KindUnavailable ErrorKind = "unavailable"
	// KindAuthentication: the API key was refused (401, 403). An operator
	// has to fix the configuration; jobs retry meanwhile.
	KindAuthentication ErrorKind = "authentication"
)

// Error is a failed Stripe call.
type Error struct {
	Kind ErrorKind
	// Code is Stripe's error code (card_declined, resource_missing, ...).
	Code string
	// DeclineCode is the issuer's reason on a card decline.
	DeclineCode string
	Message     string
	// PaymentIntentID is the PaymentIntent a declined confirmation made.
	PaymentIntentID string
	HTTPStatus      int
	RequestID       string
	// Op says what was being done.
	Op  string
	Err error
}

func (e *Error) Error() string {
	code := e.Code
	if e.DeclineCode != "" {
		code += "/" + e.DeclineCode
	}
	return fmt.Sprintf("stripe: %s: %s (%s, status %d, request %s): %s", e.Op, e.Kind, code, e.HTTPStatus, e.RequestID, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether retrying the same request may succeed.
func (e *Error) Temporary() bool { return e.Kind == KindUnavailable || e.Kind == KindAuthentication }

// FailureCode returns the decline code, else the error code: what an
// invoice's failed attempt records.
func (e *Error) FailureCode() string {
	if e.DeclineCode != "" {
		return e.DeclineCode
	}
	return e.Code
}

// IsKind reports whether err is an *Error of kind k.
func IsKind(err error, k ErrorKind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}

// classify turns stripe-go's error into an *Error.
func classify(op string, err error) error {
	var se *stripego.Error
	if !errors.As(err, &se) {
		// stripe-go returns its own type for every answer Stripe gave; any
		// other error is the network's (after stripe-go's own retries).
		return &Error{Kind: KindUnavailable, Code: "network", Message: err.Error(), Op: op, Err: err}
	}
	e := &Error{
		Code: string(se.Code), DeclineCode: string(se.DeclineCode), Message: se.Msg,
		HTTPStatus: se.HTTPStatusCode, RequestID: se.RequestID, Op: op, Err: err,
	}
	if se.PaymentIntent != nil {
		e.PaymentIntentID = se.PaymentIntent.ID
	}
	switch {
	case se.Type == stripego.ErrorTypeCard:
		e.Kind = KindDeclined
	case se.HTTPStatusCode == http.StatusUnauthorized || se.HTTPStatusCode == http.StatusForbidden:
		e.Kind = KindAuthentication
	case se.HTTPStatusCode == http.StatusConflict, // a concurrent request holds the idempotency key or the object
		se.HTTPStatusCode == http.StatusTooManyRequests,
		se.HTTPStatusCode >= 500,
		se.Type == stripego.ErrorTypeAPI:
		e.Kind = KindUnavailable
	default: // invalid_request_error, idempotency_error: the request is wrong
		e.Kind = KindInvalid
	}
	return e
}
