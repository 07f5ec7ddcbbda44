-- name: StoredMasterKeyCreate :exec
-- Stores a master key unless one is stored already.
INSERT INTO stored_master_key (master_key)
VALUES (@master_key)
ON CONFLICT (singleton) DO NOTHING;

-- name: StoredMasterKey :one
SELECT master_key
FROM stored_master_key
WHERE singleton;
