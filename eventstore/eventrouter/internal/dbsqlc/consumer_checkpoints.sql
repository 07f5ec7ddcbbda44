-- name: CheckpointLock :one
SELECT position_major, position_minor
FROM consumer_checkpoints
WHERE name = @name
FOR UPDATE;

-- name: CheckpointCreate :exec
INSERT INTO consumer_checkpoints (name)
VALUES (@name)
ON CONFLICT (name) DO NOTHING;

-- name: CheckpointSet :exec
UPDATE consumer_checkpoints
SET position_major = @position_major,
    position_minor = @position_minor,
    updated_at = now()
WHERE name = @name;

-- name: CheckpointGet :one
SELECT name, position_major, position_minor, updated_at
FROM consumer_checkpoints
WHERE name = @name;

-- name: CheckpointList :many
SELECT name, position_major, position_minor, updated_at
FROM consumer_checkpoints
ORDER BY name;
