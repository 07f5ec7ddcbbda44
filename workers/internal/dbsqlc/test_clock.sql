-- name: ClockInit :one
-- Returns the test clock's now, starting it at start the first time.
WITH ins AS (
    INSERT INTO test_clock (now) VALUES (@start::timestamptz)
    ON CONFLICT (singleton) DO NOTHING
    RETURNING now
)
SELECT now FROM ins
UNION ALL
SELECT now FROM test_clock
LIMIT 1;

-- name: ClockGet :one
SELECT now FROM test_clock;

-- name: ClockAdvance :one
-- Moves now forward to at (never back) and returns the new now.
UPDATE test_clock
SET now = greatest(now, @at::timestamptz), updated_at = clock_timestamp()
RETURNING now;
