package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/subsd/subsd/eventstore"
)

// FoldCustomer computes the customer detail page of customerID from events
// alone, with the same Apply and Render as the live read model, through a
// memory-backed session: the ?as_of= page (issue 6) and a check of the
// read model. events are the customer's streams (customer-, subscription-,
// order-, invoice- and email- streams of the customer) and the settings
// stream, up to the time wanted, in global order; events of other
// customers are harmless. now is the time the page is computed for
// (subscribed_days counts to it) and loc the business time zone.
func FoldCustomer(ctx context.Context, customerID string, events []eventstore.RecordedEvent, now time.Time, loc *time.Location) (Doc, error) {
	p := customerDetail{}
	s := newMemorySession(p)
	// Decoded in parallel first (customerstreams.go): most of the fold's
	// time, and what keeps a 1,000-event page within as_of's budget.
	decoded, err := decodeAll(events, p.Handles)
	if err != nil {
		return Doc{}, err
	}
	for i, re := range events {
		ev := decoded[i]
		if ev == nil {
			continue
		}
		if err := s.apply(ctx, Event{RecordedEvent: re, Data: ev}); err != nil {
			return Doc{}, err
		}
	}
	doc, ok, err := s.render(kindCustomer, customerID)
	if err != nil {
		return Doc{}, err
	}
	if !ok {
		return Doc{}, fmt.Errorf("customer %s: %w", customerID, ErrNotFound)
	}
	var tnt bool
	if st, _ := Get[detailSettings](ctx, s, kindSettings, settingsDocID); st != nil {
		tnt = st.TrackAndTraceEnabled
	}
	if loc == nil {
		loc = time.UTC
	}
	out, err := patch(doc.JSON, doc.Holes, patchEnv{now: now.In(loc), trackAndTrace: tnt})
	if err != nil {
		return Doc{}, err
	}
	return Doc{JSON: out, Version: doc.Version}, nil
}
