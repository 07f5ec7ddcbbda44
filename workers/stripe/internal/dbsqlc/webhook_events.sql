-- name: WebhookEventReceive :one
-- Records a delivery of an event and returns when it was applied (NULL for
-- an event not applied yet: a first delivery, or one whose earlier
-- delivery failed halfway).
INSERT INTO stripe_webhook_events AS e (event_id, type, object_id, stripe_created_at)
VALUES (@event_id, @type, @object_id, @stripe_created_at)
ON CONFLICT (event_id) DO UPDATE
    SET deliveries = e.deliveries + 1, last_received_at = now()
RETURNING e.applied_at;

-- name: WebhookEventApplied :exec
-- Marks an event applied; the first outcome stays.
UPDATE stripe_webhook_events
SET applied_at = now(), outcome = @outcome
WHERE event_id = @event_id AND applied_at IS NULL;

-- name: WebhookEventGet :one
-- One event's record, for tests and operators.
SELECT event_id, type, object_id, stripe_created_at, received_at, last_received_at, deliveries, applied_at, outcome
FROM stripe_webhook_events
WHERE event_id = @event_id;
