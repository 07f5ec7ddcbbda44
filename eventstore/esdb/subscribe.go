package esdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	esdbclient "github.com/EventStore/EventStore-Client-Go/v4/esdb"

	"github.com/subsd/subsd/eventstore"
)

// Subscribe calls handle for every event after position after, in global
// order: first the events already written, then new ones as they are written.
// It is a catch-up subscription to $all that the server filters to this
// store's streams (WithStreamPrefixes, WithNamespace) or, without either, to
// non-system event types; the same rules as ReadAll are applied again on the
// client.
//
// The subscription starts strictly after after (EventStoreDB subscription
// positions are exclusive, which is our contract), or at the start of the log
// for eventstore.Start; it never relies on the client's default, which is the
// end of the log. When the server drops the subscription, Subscribe
// resubscribes from the last event it delivered, with exponential backoff, so
// handle sees each event once. It returns ctx.Err() when ctx is done, the
// error handle returned, or an error if the Store was closed or an event
// cannot be decoded.
func (s *Store) Subscribe(ctx context.Context, after eventstore.Position, handle eventstore.HandlerFunc) error {
	last := after
	delay := s.retry.initial
	for {
		delivered, err := s.subscribeOnce(ctx, &last, handle)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var fatal fatalError
		if errors.As(err, &fatal) {
			return fatal.err
		}
		if isCode(err, esdbclient.ErrorCodeConnectionClosed) {
			return fmt.Errorf("subscribing to $all: %w", err)
		}
		if delivered {
			delay = s.retry.initial
		}
		s.logger.WarnContext(ctx, "esdb: subscription dropped, resubscribing",
			"after", last.String(), "retry_in", delay, "error", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = s.retry.next(delay)
	}
}

// fatalError marks an error that ends Subscribe instead of causing a
// resubscription: the handler's own error, or an event we cannot decode.
type fatalError struct{ err error }

func (e fatalError) Error() string { return e.err.Error() }

// subscribeOnce runs one server subscription from *last until it drops,
// advancing *last over every delivered event. It reports whether it delivered
// any event, so that the caller can reset its backoff.
func (s *Store) subscribeOnce(ctx context.Context, last *eventstore.Position, handle eventstore.HandlerFunc) (bool, error) {
	sub, err := s.client.SubscribeToAll(ctx, esdbclient.SubscribeToAllOptions{
		From:   allPosition(*last),
		Filter: s.subscriptionFilter(),
	})
	if err != nil {
		return false, fmt.Errorf("subscribing to $all after %s: %w", last, err)
	}
	defer sub.Close()

	delivered := false
	for {
		ev := sub.Recv()
		switch {
		case ev.SubscriptionDropped != nil:
			return delivered, fmt.Errorf("subscription to $all dropped: %w", ev.SubscriptionDropped.Error)
		case ev.EventAppeared == nil:
			continue // checkpoint, caught up, fell behind: nothing to deliver
		}
		raw := ev.EventAppeared.OriginalEvent()
		pos := position(raw.Position)
		// The server's subscription is exclusive of its start, but a
		// resubscription must never hand an event over twice, whatever
		// the server does.
		if !isAfter(pos, *last) {
			continue
		}
		if _, ok := s.visible(raw.StreamID, raw.EventType); !ok {
			continue
		}
		rec, err := s.recorded(raw)
		if err != nil {
			return delivered, fatalError{fmt.Errorf("subscribing to $all: %w", err)}
		}
		if err := handle(ctx, rec); err != nil {
			return delivered, fatalError{err}
		}
		*last = pos
		delivered = true
	}
}

// subscriptionFilter is the server-side filter of the subscription: stream
// prefixes when this store is restricted to some streams, otherwise the
// client's filter excluding system event types. A filter can hold prefixes or
// a regular expression but not both, hence the client-side check as well.
func (s *Store) subscriptionFilter() *esdbclient.SubscriptionFilter {
	switch {
	case len(s.prefixes) > 0:
		prefixes := make([]string, len(s.prefixes))
		for i, p := range s.prefixes {
			prefixes[i] = s.namespace + p
		}
		return &esdbclient.SubscriptionFilter{Type: esdbclient.StreamFilterType, Prefixes: prefixes}
	case s.namespace != "":
		return &esdbclient.SubscriptionFilter{Type: esdbclient.StreamFilterType, Prefixes: []string{s.namespace}}
	default:
		return esdbclient.ExcludeSystemEventsFilter()
	}
}

// backoff is an exponential backoff between resubscriptions.
type backoff struct {
	initial, max time.Duration
}

var defaultBackoff = backoff{initial: 100 * time.Millisecond, max: 10 * time.Second}

func (b backoff) next(d time.Duration) time.Duration {
	return min(2*d, b.max)
}
