-- name: PoisonedEventInsert :exec
INSERT INTO consumer_poisoned_events (
    consumer, event_id, stream_id, version, position_major, position_minor, type, error
) VALUES (
    @consumer, @event_id, @stream_id, @version, @position_major, @position_minor, @type, @error
)
ON CONFLICT (consumer, event_id) DO NOTHING;

-- name: PoisonedEventList :many
SELECT consumer, event_id, stream_id, version, position_major, position_minor, type, error, poisoned_at
FROM consumer_poisoned_events
WHERE consumer = @consumer
ORDER BY position_major, position_minor;
