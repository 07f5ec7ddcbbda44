-- name: StreamCustomer :one
-- The customer whose events stream holds.
SELECT customer_id FROM customer_data_streams
WHERE stream_id = @stream_id
ORDER BY customer_id
LIMIT 1;

-- name: CustomerStreams :many
SELECT stream_id FROM customer_data_streams
WHERE customer_id = @customer_id
ORDER BY stream_id;
