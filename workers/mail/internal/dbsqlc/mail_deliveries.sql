-- name: ClaimDelivery :one
-- Claims an email for one delivery attempt: a first attempt, one after an
-- attempt that did not send, or one whose claimer abandoned it before the
-- final "." (its claim is older than the lease). No row: another worker
-- holds it, or it was handed over (GetDelivery says which).
INSERT INTO mail_deliveries (email_id, message_id, state, attempts, claimed_at)
VALUES (@email_id, @message_id, 'sending', 1, now())
ON CONFLICT (email_id) DO UPDATE
SET state = 'sending', attempts = mail_deliveries.attempts + 1, claimed_at = now(), server_reply = ''
WHERE mail_deliveries.state = 'not_sent'
   OR (mail_deliveries.state = 'sending'
       AND mail_deliveries.claimed_at < now() - make_interval(secs => @lease_seconds::float8))
RETURNING message_id, attempts;

-- name: GetDelivery :one
-- Reads an email's delivery; stale says whether its claim or hand-over is
-- older than the lease.
SELECT email_id, message_id, state, attempts, accepted_at, server_reply,
    (coalesce(handed_over_at, claimed_at) < now() - make_interval(secs => @lease_seconds::float8))::bool AS stale
FROM mail_deliveries
WHERE email_id = @email_id;

-- name: MarkHandedOver :execrows
-- Records, before the final ".", that the message may be delivered from
-- now on. No row: the claim was taken over, and this attempt must not send.
UPDATE mail_deliveries
SET state = 'handed_over', handed_over_at = now()
WHERE email_id = @email_id AND state = 'sending' AND attempts = @attempts;

-- name: MarkAccepted :execrows
UPDATE mail_deliveries
SET state = 'accepted', accepted_at = @accepted_at, server_reply = @server_reply
WHERE email_id = @email_id AND state = 'handed_over' AND attempts = @attempts;

-- name: MarkNotSent :execrows
-- Records an attempt that certainly delivered nothing: it ended before the
-- final ".", or the server refused the message.
UPDATE mail_deliveries
SET state = 'not_sent', server_reply = @server_reply
WHERE email_id = @email_id AND state IN ('sending', 'handed_over') AND attempts = @attempts;
