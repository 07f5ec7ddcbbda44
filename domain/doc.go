// Package domain holds the business of subscription commerce as pure code:
// value objects (Money, Address, Interval, Date, ids), calendar and VAT
// arithmetic, and, in its sub-packages, one aggregate each (customer,
// subscription, order, invoice, email, settings).
//
// Nothing here does I/O, reads a clock or randomness, or logs: time and ids
// arrive in commands. An aggregate is a pair of pure functions,
//
//	Decide(state, command) ([]Event, error)
//	Evolve(state, event) state
//
// and its state is always the fold of Evolve over its history; there is no
// other constructor. Every invariant of API.md's "Behaviour" section is
// enforced by a Decide and reported as an *Error sentinel the HTTP layer maps
// to a status in one place.
package domain
