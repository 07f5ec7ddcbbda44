-- name: DueUpsert :exec
-- Sets what falls due for (kind, ref). The row stays enqueued only when
-- neither its time nor its arguments changed.
INSERT INTO due_work AS d (kind, ref, due_at, args)
VALUES (@kind::text, @ref::text, @due_at::timestamptz, @args::jsonb)
ON CONFLICT (kind, ref) DO UPDATE
SET due_at = excluded.due_at,
    args = excluded.args,
    enqueued_at = CASE WHEN d.due_at = excluded.due_at AND d.args = excluded.args THEN d.enqueued_at END;

-- name: DueDelete :exec
DELETE FROM due_work WHERE kind = @kind::text AND ref = @ref::text;

-- name: DueDeleteRefsExcept :exec
-- Deletes the rows of kind whose ref starts with prefix, except keep.
DELETE FROM due_work
WHERE kind = @kind::text
  AND starts_with(ref, @prefix::text)
  AND NOT (ref = ANY (@keep::text[]));

-- name: DueTake :many
-- Locks the pending rows due by due_by, oldest first, skipping rows another
-- runner holds.
SELECT kind, ref, due_at, args
FROM due_work
WHERE enqueued_at IS NULL AND due_at <= @due_by::timestamptz
ORDER BY due_at, kind, ref
LIMIT @max_rows::integer
FOR UPDATE SKIP LOCKED;

-- name: DueTakeKind :many
-- DueTake for one kind, due strictly before before.
SELECT kind, ref, due_at, args
FROM due_work
WHERE enqueued_at IS NULL AND kind = @kind::text AND due_at < @before::timestamptz
ORDER BY due_at, ref
LIMIT @max_rows::integer
FOR UPDATE SKIP LOCKED;

-- name: DueMarkEnqueued :exec
UPDATE due_work SET enqueued_at = now() WHERE kind = @kind::text AND ref = @ref::text;

-- name: DueNext :one
-- The earliest pending due time up to due_by (no rows when none).
SELECT due_at
FROM due_work
WHERE enqueued_at IS NULL AND due_at <= @due_by::timestamptz
ORDER BY due_at
LIMIT 1;

-- name: DueList :many
-- Every row, for tests and operators.
SELECT kind, ref, due_at, args, enqueued_at FROM due_work ORDER BY due_at, kind, ref;
