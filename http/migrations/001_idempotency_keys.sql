-- Idempotency-Key: the first response to a write, replayed to a retry of the
-- same request (API.md). A row is claimed (status NULL, locked_at set) before
-- the handler runs, so that concurrent duplicates cannot both execute, and
-- completed with the response afterwards. Rows expire 24 hours after
-- created_at.
CREATE TABLE http_idempotency_keys (
    -- The scope of a key: the caller's token (its SHA-256, never the token),
    -- the method and the path. The same key on another route is another key.
    token_hash   bytea       NOT NULL,
    method       text        NOT NULL,
    path         text        NOT NULL,
    idem_key     text        NOT NULL,
    -- SHA-256 of what makes two requests the same: the query, If-Match and
    -- the body (canonical JSON when it parses).
    request_hash bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- Random, per claim: only the request that claimed the row completes,
    -- renews or releases it, even after another took over its lease.
    claim        bytea       NOT NULL,
    -- Set while a request holds the key; its holder renews it. A lease older
    -- than the server's lease time belongs to a crashed request and may be
    -- taken over.
    locked_at    timestamptz,
    -- The stored response, once complete.
    status       integer,
    headers      jsonb,
    body         bytea,
    PRIMARY KEY (token_hash, method, path, idem_key),
    CHECK ((status IS NULL) = (locked_at IS NOT NULL))
);

CREATE INDEX http_idempotency_keys_created_at ON http_idempotency_keys (created_at);

---- create above / drop below ----

DROP TABLE http_idempotency_keys;
