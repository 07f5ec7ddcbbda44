-- name: AsyncCommit :exec
-- Lets the current transaction commit without waiting for its WAL flush
-- (see workers.ReactorFunc for why that is safe for the reactors).
SET LOCAL synchronous_commit = off;
