package projections

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/eventrouter"
)

// notifyChannel is the LISTEN/NOTIFY channel on which every projection
// announces, from the transaction that moves its checkpoint, the position it
// has reached ("<name> <token>"), so that WaitFor wakes as soon as a write is
// visible instead of polling.
const notifyChannel = "projections"

// Register adds each projection (All() when none are given) to r as a
// consumer named after it: its events are applied by ApplyFunc in the
// eventrouter's transaction, with the checkpoint. Call Ensure before
// r.Run, so that every read model exists at the version of this build: an
// event applied to a missing schema fails, and after the router's retries
// it is poisoned.
func Register(r *eventrouter.Router, ps ...Projection) {
	if len(ps) == 0 {
		ps = All()
	}
	history := historyOf(r.Store())
	for _, p := range ps {
		r.AddConsumer(p.Name(), applyFunc(p, history))
	}
}

// ApplyFunc returns the eventrouter ApplyFunc of p: decode the event (if p
// handles its type), apply it through a session backed by tx and p's live
// schema, write the states and documents it changed, and NOTIFY the new
// position, all in one round trip after the states are read. The router
// commits this with the checkpoint, so the effects are exactly once; Apply
// itself is deterministic, so a rebuild reproduces them.
func ApplyFunc(p Projection) eventrouter.ApplyFunc { return applyFunc(p, nil) }

// applyFunc is ApplyFunc whose sessions read a customer's history from
// history when the customer is erased (erasure.go).
func applyFunc(p Projection, history CustomerHistory) eventrouter.ApplyFunc {
	schema := schemaName(p.Name())
	prefix := p.Name() + " "
	return func(ctx context.Context, tx pgx.Tx, re eventstore.RecordedEvent) error {
		b := &pgx.Batch{}
		// The transaction commits without waiting for its WAL flush, which
		// is most of the cost of a one-event transaction. That is safe for
		// the same reason as for the reactors (workers.ReactorFunc): the
		// rows and the checkpoint are lost or kept together, so a crash
		// that loses the last commits only delivers those events again,
		// and Apply is deterministic. A read model is rebuildable anyway.
		b.Queue(`SET LOCAL synchronous_commit = off`)
		if handles(p, re.Type) {
			ev, err := decode(re)
			if err != nil {
				return err
			}
			if ev != nil {
				s := newTxSession(p, tx, schema)
				s.history = history
				if err := s.apply(ctx, Event{RecordedEvent: re, Data: ev}); err != nil {
					return err
				}
				if err := s.queueWrites(b); err != nil {
					return err
				}
			}
		}
		b.Queue(`SELECT pg_notify($1, $2)`, notifyChannel, prefix+re.Position.Token())
		return tx.SendBatch(ctx, b).Close()
	}
}
