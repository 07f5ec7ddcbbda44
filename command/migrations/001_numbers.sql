-- Human numbers (ORD-000123, INV-2026-000042), sequential without gaps.
--
-- number_series holds one counter per series: "ORD" for orders, "INV-<year>"
-- for the invoices of a year in the business time zone. number_reservations
-- remembers which aggregate got which number, so that allocating again for
-- the same aggregate id (a retried command) returns the same number instead
-- of burning a new one. Both are written by one statement (numbers.sql), so
-- a counter is never moved without its reservation, and a failed statement
-- moves nothing.
CREATE TABLE number_series (
    series text NOT NULL,
    last_value bigint NOT NULL,
    CONSTRAINT number_series_pkey PRIMARY KEY (series),
    CONSTRAINT number_series_last_value_check CHECK (last_value > 0)
);

CREATE TABLE number_reservations (
    aggregate_id text NOT NULL,
    series text NOT NULL,
    value bigint NOT NULL,
    reserved_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT number_reservations_pkey PRIMARY KEY (aggregate_id),
    CONSTRAINT number_reservations_series_value_key UNIQUE (series, value),
    CONSTRAINT number_reservations_series_fkey FOREIGN KEY (series) REFERENCES number_series (series)
);

---- create above / drop below ----

DROP TABLE number_reservations;
DROP TABLE number_series;
