-- Where each projection's read model stands. The read models themselves are
-- derived data in schemas of their own (rm_<name>), created and replaced by
-- rebuilds (package projections), not by migrations: their shape is the
-- projection's Version, recorded here, and a projection whose stored version
-- differs from the code's is rebuilt on start.
CREATE TABLE projection_registry (
    name text NOT NULL,
    -- version is the projection version the live schema rm_<name> was built
    -- with; 0 before the first build.
    version integer NOT NULL DEFAULT 0,
    -- status: live (the read model follows the log), rebuilding (a rebuild
    -- is filling rm_<name>_next; the live one still serves), failed (the
    -- last rebuild failed; see error).
    status text NOT NULL DEFAULT 'live',
    error text NOT NULL DEFAULT '',
    rebuilt_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT projection_registry_pkey PRIMARY KEY (name),
    CONSTRAINT projection_registry_name_check CHECK (name ~ '^[a-z][a-z0-9_]*$'),
    CONSTRAINT projection_registry_status_check CHECK (status IN ('live', 'rebuilding', 'failed'))
);

-- The customers overview's ?query= is a case-insensitive substring search
-- (name, email, order number): a trigram index serves LIKE '%...%'.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

---- create above / drop below ----

DROP TABLE projection_registry;
