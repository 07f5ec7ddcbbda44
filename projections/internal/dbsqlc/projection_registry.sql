-- name: RegistryList :many
SELECT name, version, status, error, rebuilt_at, updated_at
FROM projection_registry
ORDER BY name;

-- name: RegistryGet :one
SELECT name, version, status, error, rebuilt_at, updated_at
FROM projection_registry
WHERE name = @name;

-- name: RegistrySetStatus :exec
INSERT INTO projection_registry (name, status, error)
VALUES (@name, @status, @error)
ON CONFLICT (name) DO UPDATE
SET status = excluded.status, error = excluded.error, updated_at = now();

-- name: RegistrySwapped :exec
INSERT INTO projection_registry (name, version, status, error, rebuilt_at)
VALUES (@name, @version, 'live', '', now())
ON CONFLICT (name) DO UPDATE
SET version = excluded.version, status = 'live', error = '', rebuilt_at = now(), updated_at = now();

-- name: SchemaExists :one
SELECT EXISTS (SELECT FROM pg_catalog.pg_namespace WHERE nspname = @name::text);
