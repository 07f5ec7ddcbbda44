package workers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/subsd/subsd/domain"
	"github.com/subsd/subsd/domain/customer"
	"github.com/subsd/subsd/domain/email"
	"github.com/subsd/subsd/domain/invoice"
	"github.com/subsd/subsd/domain/order"
	"github.com/subsd/subsd/domain/settings"
	"github.com/subsd/subsd/domain/subscription"
	"github.com/subsd/subsd/eventstore"
)

// decodeEvent decodes a recorded event with the codec of the aggregate
// that owns its stream (found by the stream's prefix). An event of a
// stream no aggregate owns decodes to nil without error: the log may hold
// streams that are not ours (and the benchmark's).
func decodeEvent(re eventstore.RecordedEvent) (domain.Event, error) {
	var (
		e   domain.Event
		err error
	)
	switch {
	case strings.HasPrefix(re.StreamID, subscription.StreamPrefix):
		e, err = decodeWith(subscription.Codec, re)
	case strings.HasPrefix(re.StreamID, invoice.StreamPrefix):
		e, err = decodeWith(invoice.Codec, re)
	case strings.HasPrefix(re.StreamID, email.StreamPrefix):
		e, err = decodeWith(email.Codec, re)
	case strings.HasPrefix(re.StreamID, order.StreamPrefix):
		e, err = decodeWith(order.Codec, re)
	case strings.HasPrefix(re.StreamID, customer.StreamPrefix):
		e, err = decodeWith(customer.Codec, re)
	case strings.HasPrefix(re.StreamID, settings.StreamPrefix):
		e, err = decodeWith(settings.Codec, re)
	default:
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("decoding %s %s@%d: %w", re.Type, re.StreamID, re.Version, err)
	}
	return e, nil
}

func decodeWith[E domain.Event](c *domain.Codec[E], re eventstore.RecordedEvent) (domain.Event, error) {
	e, err := c.Decode(re.Type, re.Data)
	if err != nil {
		return nil, err
	}
	return e, nil
}

// loadUpTo folds stream up to and including version (0: the zero state),
// so that a reactor decides from the state an event saw, not from a later
// one: a replay decides the same.
func loadUpTo[S any, C any, E domain.Event](ctx context.Context, store eventstore.Store, a domain.Aggregate[S, C, E], stream string, version uint64) (S, error) {
	var state S
	const page = 500
	for from := uint64(1); from <= version; {
		events, err := store.ReadStream(ctx, stream, from, int(min(uint64(page), version-from+1)))
		if err != nil {
			return state, fmt.Errorf("loading stream %s: %w", stream, err)
		}
		for _, re := range events {
			e, err := a.Codec.Decode(re.Type, re.Data)
			if err != nil {
				return state, fmt.Errorf("loading stream %s at version %d: %w", stream, re.Version, err)
			}
			state = a.Evolve(state, e)
			from = re.Version + 1
		}
		if len(events) == 0 {
			break
		}
	}
	return state, nil
}

// settingsBefore folds the settings stream's events that come before
// position at in the global order: the settings "at the time of" the event
// at that position, whenever it is applied.
func settingsBefore(ctx context.Context, store eventstore.Store, at eventstore.Position) (settings.State, error) {
	var st settings.State
	for from := uint64(1); ; {
		events, err := store.ReadStream(ctx, settings.Stream(), from, 500)
		if err != nil {
			return st, fmt.Errorf("loading the settings: %w", err)
		}
		for _, re := range events {
			if !re.Position.Less(at) {
				return st, nil
			}
			e, err := settings.Codec.Decode(re.Type, re.Data)
			if err != nil {
				return st, fmt.Errorf("loading the settings at version %d: %w", re.Version, err)
			}
			st = settings.Evolve(st, e)
		}
		if len(events) < 500 {
			return st, nil
		}
		from = events[len(events)-1].Version + 1
	}
}

// occurredAt is the business time of an event: its metadata's (the
// injected clock's, which a test clock moves), else when it was recorded.
func occurredAt(re eventstore.RecordedEvent) time.Time {
	if !re.Metadata.OccurredAt.IsZero() {
		return re.Metadata.OccurredAt.UTC()
	}
	return re.RecordedAt.UTC()
}

// causedBy returns the metadata of events appended in answer to re.
func causedBy(re eventstore.RecordedEvent, actor string, at time.Time) eventstore.Metadata {
	return eventstore.Metadata{
		Actor:         actor,
		CorrelationID: re.Metadata.CorrelationID,
		CausationID:   re.ID.String(),
		OccurredAt:    at.UTC(),
	}
}

// finalAction maps the dunning setting onto the subscription's command.
func finalAction(a settings.FinalAction) subscription.FinalAction {
	switch a {
	case settings.CancelNow:
		return subscription.FinalActionCancelNow
	case settings.KeepPastDue:
		return subscription.FinalActionNone
	default:
		return subscription.FinalActionCancelAtPeriodEnd
	}
}

func pgDate(d domain.Date) pgtype.Date {
	return pgtype.Date{Time: time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC), Valid: true}
}
