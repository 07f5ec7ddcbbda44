-- The keys that make personal data in the event log erasable (crypto-
-- shredding; see package eventstore/crypto). Each customer's personal fields
-- are encrypted with a data key of their own, kept here wrapped (AES-256-GCM)
-- by the master key from DATA_KEY, which is never stored. Erasure deletes the
-- wrapped key: the ciphertext in the log stays, and nothing can read it.
CREATE TABLE customer_data_keys (
    customer_id text NOT NULL,
    -- nonce (12 bytes) || AES-256-GCM(master key, the 32-byte data key),
    -- with the customer id as additional data; NULL once erased.
    wrapped_key bytea,
    -- Which master key wrapped it: the first 8 bytes of
    -- HMAC-SHA256(master key, "subsd data key id v1"), so that a wrong
    -- DATA_KEY is refused at start instead of failing on every read.
    master_key_id bytea,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Set, once and for good, by erasure; a row may be born erased (a
    -- customer erased before any of their data was encrypted), which keeps
    -- later appends from creating a key for them.
    erased_at timestamptz,
    CONSTRAINT customer_data_keys_pkey PRIMARY KEY (customer_id),
    CONSTRAINT customer_data_keys_customer_id_check CHECK (customer_id <> ''),
    CONSTRAINT customer_data_keys_erased_check CHECK ((wrapped_key IS NULL) = (erased_at IS NOT NULL)),
    CONSTRAINT customer_data_keys_master_key_id_check CHECK ((wrapped_key IS NULL) = (master_key_id IS NULL))
);

-- Which streams hold events of which customer, written by the decorator
-- before it appends a customer's first event to a stream. Erasure reads a
-- customer's whole history through it (the read models rebuild the
-- customer's rows from that history once the key is gone), and it is the
-- register of where a person's data lives. Only ids: no personal data.
CREATE TABLE customer_data_streams (
    customer_id text NOT NULL,
    stream_id text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT customer_data_streams_pkey PRIMARY KEY (customer_id, stream_id)
);

-- A stream belongs to one customer; this finds it (events without a
-- customer_id field, such as email.failed, are keyed through their stream).
CREATE INDEX customer_data_streams_stream_id_idx ON customer_data_streams (stream_id);

---- create above / drop below ----

DROP TABLE customer_data_streams;
DROP TABLE customer_data_keys;
