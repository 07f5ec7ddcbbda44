-- The event log. Rows are only ever inserted: never updated, never deleted
-- (erasure of personal data deletes the customer's key, not events).
--
-- Global order is (tx_id, tx_index), not a sequence: see the package comment of
-- eventstore/postgres for why a sequence by itself loses events under
-- concurrent writers.
CREATE TABLE eventstore_events (
    -- seq numbers rows in insertion order, for people reading the table;
    -- across transactions it means nothing for the global order, because
    -- sequence values are taken before commit.
    seq bigint GENERATED ALWAYS AS IDENTITY,
    -- tx_index orders the events of one transaction (0, 1, 2, ... across
    -- every append a group commit puts in it). (tx_id, tx_index) is the
    -- global order and the Position (Major, Minor); it stays small, so
    -- positions fit the one-integer token clients see (eventstore.Token).
    tx_index integer NOT NULL,
    -- tx_id is the id of the writing transaction. A reader only takes rows
    -- whose tx_id is below the oldest transaction still running, so no row
    -- can later appear before one it has already returned.
    tx_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
    event_id uuid NOT NULL,
    stream_id text NOT NULL,
    version bigint NOT NULL,
    type text NOT NULL,
    -- data is bytea, not json or jsonb: the store keeps exactly the bytes the
    -- caller gave (jsonb rewrites them; json converts them through the
    -- database encoding), so a hash over them, taken when they are written,
    -- still matches when they are read. The adapter checks they are JSON.
    -- Ad hoc: convert_from(data, 'UTF8')::jsonb.
    data bytea NOT NULL,
    -- metadata is json (kept as written, cheap to store and to read back);
    -- its fields are the store's own (actor, correlation_id, causation_id,
    -- occurred_at) and can be queried with ->>.
    metadata json NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT eventstore_events_pkey PRIMARY KEY (tx_id, tx_index),
    CONSTRAINT eventstore_events_tx_index_check CHECK (tx_index >= 0),
    CONSTRAINT eventstore_events_event_id_key UNIQUE (event_id),
    CONSTRAINT eventstore_events_stream_version_key UNIQUE (stream_id, version),
    CONSTRAINT eventstore_events_version_check CHECK (version > 0),
    CONSTRAINT eventstore_events_type_check CHECK (type <> ''),
    CONSTRAINT eventstore_events_stream_id_check CHECK (stream_id <> '')
);

-- One row per stream holding its current version. Appends lock this row
-- (UPDATE ... WHERE version = expected, or INSERT ... ON CONFLICT), which
-- is what makes the expected-version check race-free without scanning the
-- events.
CREATE TABLE eventstore_streams (
    stream_id text NOT NULL,
    version bigint NOT NULL,
    CONSTRAINT eventstore_streams_pkey PRIMARY KEY (stream_id),
    CONSTRAINT eventstore_streams_version_check CHECK (version > 0)
);

---- create above / drop below ----

DROP TABLE eventstore_streams;
DROP TABLE eventstore_events;
