-- Where each consumer (projection or reactor) is in the global order of the
-- event store. A consumer's handler locks its row (SELECT ... FOR UPDATE),
-- applies one event and moves the position in the same transaction as its
-- own writes, so its effects and its checkpoint commit together.
--
-- The position is the store's Position: (transaction id, sequence) in the
-- PostgreSQL store, (commit, prepare) in EventStoreDB. Both halves are needed:
-- a checkpoint on the first alone skips events.
CREATE TABLE consumer_checkpoints (
    name text NOT NULL,
    position_major bigint NOT NULL DEFAULT 0,
    position_minor bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT consumer_checkpoints_pkey PRIMARY KEY (name),
    CONSTRAINT consumer_checkpoints_name_check CHECK (name <> ''),
    CONSTRAINT consumer_checkpoints_position_check CHECK (position_major >= 0 AND position_minor >= 0)
);

-- Events a consumer gave up on: its handler kept failing after every retry.
-- The row is written in the same transaction that moves the consumer's
-- checkpoint past the event, so the consumer goes on, and the event, never
-- applied, is on record here. The event itself stays in the event store at
-- (stream_id, version); it is not copied.
CREATE TABLE consumer_poisoned_events (
    consumer text NOT NULL,
    event_id uuid NOT NULL,
    stream_id text NOT NULL,
    version bigint NOT NULL,
    position_major bigint NOT NULL,
    position_minor bigint NOT NULL,
    type text NOT NULL,
    error text NOT NULL,
    poisoned_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT consumer_poisoned_events_pkey PRIMARY KEY (consumer, event_id),
    CONSTRAINT consumer_poisoned_events_consumer_fkey FOREIGN KEY (consumer)
        REFERENCES consumer_checkpoints (name) ON DELETE CASCADE
);

---- create above / drop below ----

DROP TABLE consumer_poisoned_events;
DROP TABLE consumer_checkpoints;
