package eventrouter

import (
	"fmt"
	"strconv"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/google/uuid"

	"github.com/subsd/subsd/eventstore"
)

// Metadata keys of a message made from an event by NewMessage. The message's
// UUID is the event id and its payload the event data.
const (
	MetadataStream   = "stream"
	MetadataVersion  = "version"
	MetadataPosition = "position" // Position.String(): "major/minor"
	MetadataType     = "type"
	MetadataActor    = "actor"
	// MetadataCorrelationID is Watermill's own correlation key, so that its
	// CorrelationID middleware and MessageCorrelationID see the event's.
	MetadataCorrelationID = middleware.CorrelationIDMetadataKey
	MetadataCausationID   = "causation_id"
	MetadataRecordedAt    = "recorded_at" // RFC 3339, nanoseconds, UTC
	MetadataOccurredAt    = "occurred_at" // RFC 3339, nanoseconds, UTC; absent if unknown
)

// NewMessage turns an event into a Watermill message that EventFromMessage
// turns back into the same event (times in UTC).
func NewMessage(e eventstore.RecordedEvent) *message.Message {
	msg := message.NewMessage(e.ID.String(), message.Payload(e.Data))
	msg.Metadata.Set(MetadataStream, e.StreamID)
	msg.Metadata.Set(MetadataVersion, strconv.FormatUint(e.Version, 10))
	msg.Metadata.Set(MetadataPosition, e.Position.String())
	msg.Metadata.Set(MetadataType, e.Type)
	msg.Metadata.Set(MetadataRecordedAt, formatTime(e.RecordedAt))
	setIf(msg, MetadataActor, e.Metadata.Actor)
	setIf(msg, MetadataCorrelationID, e.Metadata.CorrelationID)
	setIf(msg, MetadataCausationID, e.Metadata.CausationID)
	setIf(msg, MetadataOccurredAt, formatTime(e.Metadata.OccurredAt))
	return msg
}

// EventFromMessage reads back an event made into a message by NewMessage. It
// fails if the message was not made that way (a missing or malformed key).
func EventFromMessage(msg *message.Message) (eventstore.RecordedEvent, error) {
	id, err := uuid.Parse(msg.UUID)
	if err != nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("message %s: event id: %w", msg.UUID, err)
	}
	e := eventstore.RecordedEvent{
		ID:       id,
		StreamID: msg.Metadata.Get(MetadataStream),
		Type:     msg.Metadata.Get(MetadataType),
		Data:     msg.Payload,
		Metadata: eventstore.Metadata{
			Actor:         msg.Metadata.Get(MetadataActor),
			CorrelationID: msg.Metadata.Get(MetadataCorrelationID),
			CausationID:   msg.Metadata.Get(MetadataCausationID),
		},
	}
	if e.StreamID == "" || e.Type == "" {
		return eventstore.RecordedEvent{}, fmt.Errorf("message %s: no stream or type: not an event", msg.UUID)
	}
	if e.Version, err = strconv.ParseUint(msg.Metadata.Get(MetadataVersion), 10, 64); err != nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("message %s: version: %w", msg.UUID, err)
	}
	if e.Position, err = eventstore.ParsePosition(msg.Metadata.Get(MetadataPosition)); err != nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("message %s: %w", msg.UUID, err)
	}
	if e.RecordedAt, err = parseTime(msg.Metadata.Get(MetadataRecordedAt)); err != nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("message %s: recorded_at: %w", msg.UUID, err)
	}
	if e.Metadata.OccurredAt, err = parseTime(msg.Metadata.Get(MetadataOccurredAt)); err != nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("message %s: occurred_at: %w", msg.UUID, err)
	}
	return e, nil
}

func setIf(msg *message.Message, key, value string) {
	if value != "" {
		msg.Metadata.Set(key, value)
	}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	return t.UTC(), nil
}
