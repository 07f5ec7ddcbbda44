-- name: RecordKeysAndStreams :many
-- Records the (customer, stream) pairs not recorded yet and creates the data
-- keys of the customers that have none, in one round trip, and returns the
-- key row of every customer in key_customer_ids: the one created here, or
-- the one that was there (possibly erased). A key another transaction
-- commits while this statement runs is not returned (the statement's
-- snapshot predates it): the caller reads it with GetKeys.
WITH streams AS (
    INSERT INTO customer_data_streams (customer_id, stream_id)
    -- Two unnests in a select list advance together (the arrays have one
    -- length).
    SELECT unnest(@stream_customer_ids::text[]), unnest(@stream_ids::text[])
    ON CONFLICT DO NOTHING
), created AS (
    INSERT INTO customer_data_keys (customer_id, wrapped_key, master_key_id)
    SELECT unnest(@key_customer_ids::text[]), unnest(@wrapped_keys::bytea[]), @master_key_id::bytea
    ON CONFLICT (customer_id) DO NOTHING
    RETURNING customer_id, wrapped_key, master_key_id, erased_at
)
SELECT c.customer_id, c.wrapped_key, c.master_key_id, c.erased_at FROM created AS c
UNION ALL
SELECT k.customer_id, k.wrapped_key, k.master_key_id, k.erased_at
FROM customer_data_keys AS k
WHERE k.customer_id = ANY(@key_customer_ids::text[])
  AND k.customer_id NOT IN (SELECT customer_id FROM created);

-- name: GetKeys :many
SELECT customer_id, wrapped_key, master_key_id, erased_at
FROM customer_data_keys
WHERE customer_id = ANY(@customer_ids::text[]);

-- name: EraseKey :one
-- Destroys the customer's data key, or records that the customer has none
-- and never will. Erasing twice keeps the first erased_at.
INSERT INTO customer_data_keys AS k (customer_id, erased_at)
VALUES (@customer_id, now())
ON CONFLICT (customer_id) DO UPDATE
SET wrapped_key = NULL, master_key_id = NULL, erased_at = coalesce(k.erased_at, now())
RETURNING erased_at;

-- name: ForeignMasterKey :one
-- Returns the id of a master key other than master_key_id that wrapped a
-- live data key, and how many keys it wrapped; no row when there is none.
SELECT master_key_id, count(*) AS keys
FROM customer_data_keys
WHERE master_key_id IS NOT NULL AND master_key_id <> @master_key_id::bytea
GROUP BY master_key_id
ORDER BY keys DESC
LIMIT 1;
