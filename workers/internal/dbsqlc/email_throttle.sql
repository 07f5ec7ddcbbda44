-- name: ThrottleGet :one
SELECT last_payment_failed_at FROM email_throttle WHERE customer_id = @customer_id::text;

-- name: ThrottleSet :exec
INSERT INTO email_throttle (customer_id, last_payment_failed_at)
VALUES (@customer_id::text, @at::timestamptz)
ON CONFLICT (customer_id) DO UPDATE SET last_payment_failed_at = excluded.last_payment_failed_at;
