package projections

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/eventstore"
)

// Erasure of personal data (DESIGN.md point 8) reaches the read models
// through the log, like everything else, and needs nothing of the
// projections themselves.
//
// The event store encrypts personal fields with a key per customer
// (eventstore/crypto); erasure destroys the key, then appends
// customer.personal_data_erased. From then on the customer's events read
// with their personal fields null. But the read models were built from the
// events as they read before: their states and documents hold the
// plaintext. So when a session applies customer.personal_data_erased it
// first folds the customer's whole history before that event, read again
// from the store (and so read as erased), into a fresh memory session of
// the same projection, and puts every state that fold makes in place of the
// one it had: exactly the states a session would hold had it read the
// customer's events after the erasure. Then the event itself is applied as
// usual (customer.Evolve empties the customer). The session writes those
// states and their documents as it writes any (live: in the transaction of
// the event's checkpoint), so the read models never show the customer's
// data again, and a rebuild from the log gives the same rows byte for byte
// (it reads the same erased history).
//
// This works for every projection because a projection's per-customer
// states are made from that customer's events alone (the same property the
// as-of page relies on): the fold covers each of them. It needs the store
// to read a customer's history, which a store offers by implementing
// CustomerHistory (eventstore/crypto.Store does, from the streams it
// recorded for each customer); a session whose store does not skips the
// fold, and so does one over a store that encrypts nothing, which has no
// plaintext to drop. The fold costs one read of the customer's history per
// projection per erasure.
//
// It must run after the key is gone: command.ErasePersonalData destroys the
// key before it appends the event, and the store evicts the key from its
// cache when it reads the event, before the session sees it.

// CustomerHistory is what erasure needs of a store: every event of a
// customer's streams (customer, subscriptions, orders, invoices, emails),
// in global order, read as the store reads them now.
type CustomerHistory interface {
	CustomerEvents(ctx context.Context, customerID string) ([]eventstore.RecordedEvent, error)
}

// erasedType is the stored type of customer.personal_data_erased.
var erasedType = customer.PersonalDataErased{}.EventType()

// handles reports whether a session of p must see events of type typ: those
// p handles, and erasures, which every projection's session folds
// (refoldErased) whether or not p itself reacts to them.
func handles(p Projection, typ string) bool { return typ == erasedType || p.Handles(typ) }

// historyOf returns store's CustomerHistory, or nil when it has none.
func historyOf(store eventstore.Store) CustomerHistory {
	h, _ := store.(CustomerHistory)
	return h
}

// refoldErased, for a customer.personal_data_erased event, replaces every
// state the customer's history made with the one it makes now that the
// history reads as erased (see above). Other events, and a session without
// a history to read, are left alone.
func (s *Session) refoldErased(ctx context.Context, e Event) error {
	erased, ok := e.Data.(customer.PersonalDataErased)
	if !ok || s.history == nil {
		return nil
	}
	history, err := s.history.CustomerEvents(ctx, string(erased.CustomerID))
	if err != nil {
		return fmt.Errorf("reading the history of erased customer %s: %w", erased.CustomerID, err)
	}
	fold := newMemorySession(s.p)
	for _, re := range history {
		if !re.Position.Less(e.Position) {
			continue // the erasure itself, and what came after it: applied in turn
		}
		if !s.p.Handles(re.Type) {
			continue
		}
		ev, err := decode(re)
		if err != nil {
			return err
		}
		if ev == nil {
			continue
		}
		if err := fold.apply(ctx, Event{RecordedEvent: re, Data: ev}); err != nil {
			return fmt.Errorf("folding the history of erased customer %s: %w", erased.CustomerID, err)
		}
	}
	keys := make([]key, 0, len(fold.states))
	for k, st := range fold.states {
		if st.v != nil {
			keys = append(keys, k)
		}
	}
	// In a fixed order, as Put's first-Put order would be.
	slices.SortFunc(keys, func(a, b key) int { return cmp.Or(cmp.Compare(a.kind, b.kind), cmp.Compare(a.id, b.id)) })
	for _, k := range keys {
		s.put(k, fold.states[k].v)
	}
	return nil
}
