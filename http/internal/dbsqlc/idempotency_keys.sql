-- name: ClaimIdempotencyKey :one
-- Claims a key for a request: inserts it in progress, or takes over a row
-- that has expired or whose holder stopped renewing its lease. Returns no
-- row when someone else holds or completed the key.
INSERT INTO http_idempotency_keys AS k (token_hash, method, path, idem_key, request_hash, claim, created_at, locked_at)
VALUES (@token_hash, @method, @path, @idem_key, @request_hash, @claim, now(), now())
ON CONFLICT (token_hash, method, path, idem_key) DO UPDATE
SET request_hash = excluded.request_hash,
    claim = excluded.claim,
    created_at = now(),
    locked_at = now(),
    status = NULL,
    headers = NULL,
    body = NULL
WHERE k.created_at < now() - @ttl::interval
   OR (k.status IS NULL AND k.locked_at < now() - @lease::interval)
RETURNING k.claim;

-- name: GetIdempotencyKey :one
SELECT request_hash, status, headers, body
FROM http_idempotency_keys
WHERE token_hash = @token_hash AND method = @method AND path = @path AND idem_key = @idem_key
  AND created_at >= now() - @ttl::interval;

-- name: RenewIdempotencyKey :exec
UPDATE http_idempotency_keys
SET locked_at = now()
WHERE token_hash = @token_hash AND method = @method AND path = @path AND idem_key = @idem_key
  AND claim = @claim AND status IS NULL;

-- name: CompleteIdempotencyKey :execrows
UPDATE http_idempotency_keys
SET status = @status, headers = @headers, body = @body, locked_at = NULL
WHERE token_hash = @token_hash AND method = @method AND path = @path AND idem_key = @idem_key
  AND claim = @claim AND status IS NULL;

-- name: ReleaseIdempotencyKey :exec
DELETE FROM http_idempotency_keys
WHERE token_hash = @token_hash AND method = @method AND path = @path AND idem_key = @idem_key
  AND claim = @claim AND status IS NULL;

-- name: DeleteExpiredIdempotencyKeys :execrows
DELETE FROM http_idempotency_keys
WHERE created_at < now() - @ttl::interval;

-- name: DeleteIdempotencyKeysOfCustomer :execrows
-- Erasure: deletes the stored responses that concern a customer, found by
-- scanning them (they live 24 hours, so there are few): a body that holds
-- the customer's id as a JSON string (quoted_id: the customer documents'
-- "id", every other document's "customer_id"), or a request path under
-- the customer's (/v1/customers/<id>, /v1/customers/<id>/...). Rows still
-- in progress have no body yet and belong to their request.
DELETE FROM http_idempotency_keys
WHERE status IS NOT NULL
  AND (position(@quoted_id::bytea IN body) > 0
       OR path = @customer_path::text
       OR starts_with(path, @customer_path::text || '/'));
