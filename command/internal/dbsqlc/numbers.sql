-- name: NumberReserve :one
-- Returns the number reserved for aggregate_id, reserving the next one of
-- series first when there is none. Two concurrent calls for the same new id
-- both move the counter, but the second's reservation insert then violates
-- the primary key and its whole statement, counter move included, rolls
-- back; the caller retries and finds the first's reservation.
WITH existing AS (
    SELECT r.series, r.value
    FROM number_reservations r
    WHERE r.aggregate_id = @aggregate_id::text
), bumped AS (
    INSERT INTO number_series AS s (series, last_value)
    SELECT @series::text, 1
    WHERE NOT EXISTS (SELECT 1 FROM existing)
    ON CONFLICT (series) DO UPDATE SET last_value = s.last_value + 1
    RETURNING s.series, s.last_value
), inserted AS (
    INSERT INTO number_reservations (aggregate_id, series, value)
    SELECT @aggregate_id::text, b.series, b.last_value
    FROM bumped b
    RETURNING number_reservations.series, number_reservations.value
)
SELECT existing.series, existing.value FROM existing
UNION ALL
SELECT inserted.series, inserted.value FROM inserted;

-- name: NumberLast :one
-- The last number given out in series (0 when none yet), for tests and
-- operators checking the sequence.
SELECT coalesce((SELECT last_value FROM number_series WHERE series = @series::text), 0)::bigint AS last_value;
