package eventrouter_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/subsd/subsd/eventstore"
	"github.com/subsd/subsd/eventstore/eventrouter"
)

func TestMessageRoundTrip(t *testing.T) {
	t.Parallel()

	e := eventstore.RecordedEvent{
		ID:       uuid.New(),
		StreamID: "subscription-42",
		Version:  7,
		Position: eventstore.Position{Major: 1234, Minor: 56},
		Type:     "subscription.canceled",
		Data:     []byte(`{"reason":"moved"}`),
		Metadata: eventstore.Metadata{
			Actor:         "admin:alice",
			CorrelationID: "req-1",
			CausationID:   "evt-0",
			OccurredAt:    time.Date(2024, 2, 29, 23, 59, 58, 123456789, time.FixedZone("CET", 3600)),
		},
		RecordedAt: time.Date(2024, 3, 1, 0, 0, 0, 1, time.UTC),
	}
	msg := eventrouter.NewMessage(e)
	require.Equal(t, e.ID.String(), msg.UUID)
	require.Equal(t, e.Data, []byte(msg.Payload))
	require.Equal(t, "1234/56", msg.Metadata.Get(eventrouter.MetadataPosition))
	require.Equal(t, "req-1", middleware.MessageCorrelationID(msg), "Watermill sees the event's correlation id")

	got, err := eventrouter.EventFromMessage(msg)
	require.NoError(t, err)
	require.True(t, e.Metadata.OccurredAt.Equal(got.Metadata.OccurredAt))
	e.Metadata.OccurredAt = e.Metadata.OccurredAt.UTC()
	require.Equal(t, e, got)

	t.Run("bare event", func(t *testing.T) {
		t.Parallel()
		bare := eventstore.RecordedEvent{ID: uuid.New(), StreamID: "s", Version: 1, Position: eventstore.Position{Major: 1}, Type: "t", Data: []byte(`null`)}
		msg := eventrouter.NewMessage(bare)
		require.Empty(t, msg.Metadata.Get(eventrouter.MetadataOccurredAt))
		got, err := eventrouter.EventFromMessage(msg)
		require.NoError(t, err)
		require.Equal(t, bare, got)
	})

	t.Run("not an event", func(t *testing.T) {
		t.Parallel()
		for name, mutate := range map[string]func(*message.Message){
			"uuid":        func(m *message.Message) { m.UUID = "not-a-uuid" },
			"stream":      func(m *message.Message) { m.Metadata.Set(eventrouter.MetadataStream, "") },
			"version":     func(m *message.Message) { m.Metadata.Set(eventrouter.MetadataVersion, "x") },
			"position":    func(m *message.Message) { m.Metadata.Set(eventrouter.MetadataPosition, "12") },
			"recorded_at": func(m *message.Message) { m.Metadata.Set(eventrouter.MetadataRecordedAt, "yesterday") },
			"occurred_at": func(m *message.Message) { m.Metadata.Set(eventrouter.MetadataOccurredAt, "tomorrow") },
		} {
			m := eventrouter.NewMessage(e)
			mutate(m)
			_, err := eventrouter.EventFromMessage(m)
			require.Error(t, err, name)
		}
	})
}

// receive waits for the next message on ch.
func receive(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case msg, ok := <-ch:
		require.True(t, ok, "channel closed")
		return msg
	case <-time.After(10 * time.Second):
		require.FailNow(t, "no message")
		return nil
	}
}

func TestSubscriberDeliversInOrderAndRedeliversOnNack(t *testing.T) {
	t.Parallel()
	b := setup(t)
	all := b.appendEvents(t, 4)

	sub, err := eventrouter.NewSubscriber(b.store, eventrouter.SubscriberConfig{
		CheckpointFunc: func(context.Context, string) (eventstore.Position, error) { return all[0].Position, nil },
		NackDelay:      5 * time.Millisecond,
		Logger:         discard(),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })

	ch, err := sub.Subscribe(b.ctx, "projection")
	require.NoError(t, err)

	// Starts after the checkpoint.
	msg := receive(t, ch)
	require.Equal(t, all[1].ID.String(), msg.UUID)

	// Nothing else while the message is neither acked nor nacked.
	select {
	case other := <-ch:
		t.Fatalf("got %s before acking %s", other.UUID, msg.UUID)
	case <-time.After(50 * time.Millisecond):
	}

	// A nack brings the same event again.
	msg.Nack()
	again := receive(t, ch)
	require.Equal(t, msg.UUID, again.UUID)
	require.Equal(t, msg.Metadata, again.Metadata)
	require.Equal(t, msg.Payload, again.Payload)
	require.NotSame(t, msg, again)

	again.Ack()
	msg = receive(t, ch)
	require.Equal(t, all[2].ID.String(), msg.UUID)
	msg.Ack()
	msg = receive(t, ch)
	require.Equal(t, all[3].ID.String(), msg.UUID)

	// Close ends the subscription and closes the channel, even with a
	// message outstanding.
	require.NoError(t, sub.Close())
	_, ok := <-ch
	require.False(t, ok)
	_, err = sub.Subscribe(b.ctx, "projection")
	require.ErrorIs(t, err, eventrouter.ErrSubscriberClosed)
}

func TestSubscriberStopsWithContext(t *testing.T) {
	t.Parallel()
	b := setup(t)
	b.appendEvents(t, 1)

	sub, err := eventrouter.NewSubscriber(b.store, eventrouter.SubscriberConfig{
		CheckpointFunc: func(ctx context.Context, consumer string) (eventstore.Position, error) {
			return eventrouter.Checkpoint(ctx, b.pool, consumer)
		},
		Logger: discard(),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = sub.Close() })

	ctx, cancel := context.WithCancel(b.ctx)
	ch, err := sub.Subscribe(ctx, "projection")
	require.NoError(t, err)
	msg := receive(t, ch)
	require.NoError(t, msg.Context().Err())
	cancel()
	select {
	case _, ok := <-ch:
		require.False(t, ok)
	case <-time.After(10 * time.Second):
		t.Fatal("channel not closed after the context ended")
	}
	require.Error(t, msg.Context().Err(), "the message's context is the subscription's")
}

func TestSubscriberFailsWhenTheCheckpointCannotBeRead(t *testing.T) {
	t.Parallel()
	b := setup(t)
	boom := errors.New("boom")
	sub, err := eventrouter.NewSubscriber(b.store, eventrouter.SubscriberConfig{
		CheckpointFunc: func(context.Context, string) (eventstore.Position, error) { return eventstore.Position{}, boom },
	})
	require.NoError(t, err)
	_, err = sub.Subscribe(b.ctx, "projection")
	require.ErrorIs(t, err, boom)

	_, err = eventrouter.NewSubscriber(b.store, eventrouter.SubscriberConfig{})
	require.Error(t, err, "CheckpointFunc is required")
}
