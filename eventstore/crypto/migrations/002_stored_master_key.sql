-- The master key of a service started without DATA_KEY (API.md's
-- configuration has no such variable): generated once by the first process
-- that needs it and kept here, so that every process and restart wraps and
-- unwraps the customers' data keys with the same one. Erasure works the
-- same with it (erasing deletes the customer's data key, wherever the
-- master key lives); what is lost is that a copy of the database alone no
-- longer reads as ciphertext. Production sets DATA_KEY and leaves this
-- table empty.
CREATE TABLE stored_master_key (
    singleton boolean NOT NULL DEFAULT true,
    master_key bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stored_master_key_pkey PRIMARY KEY (singleton),
    CONSTRAINT stored_master_key_singleton_check CHECK (singleton),
    CONSTRAINT stored_master_key_master_key_check CHECK (length(master_key) = 32)
);
