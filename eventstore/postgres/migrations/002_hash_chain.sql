-- Tamper evidence: the events of each stream form a hash chain. Every event
-- stores hash = SHA-256 of the message M below, in which prev is the hash of
-- the stream's previous event (32 zero bytes for version 1), so that changing,
-- removing or reordering a stored event breaks the link to it or from it.
-- `subsd verify` (Store.Verify) recomputes every chain.
--
-- M is, byte for byte (every length a 4-byte big-endian count of the bytes
-- that follow it; text as UTF-8):
--
--	prev                                      32 bytes
--	version                                    8 bytes, big-endian (int8send)
--	event_id                                  16 bytes (uuid_send)
--	len(stream_id)  stream_id
--	len(type)       type
--	len(data)       data                      the bytes stored in data
--	len(metadata)   metadata                  the JSON text stored in metadata
--
-- Lengths make the encoding unambiguous (no two different events encode to
-- the same M). The version, id and stream name are covered as well as the
-- type, data and metadata: an event copied to another place or stream breaks
-- its chain too. The data hashed is what the store holds, which is the
-- ciphertext of personal fields when a crypto-shredding decorator encrypts
-- them before they reach the store: erasing a key changes no stored byte,
-- so it breaks no chain.
--
-- The append statement computes the hash inside PostgreSQL (query.go), from
-- the stream's head hash kept in eventstore_streams, so an append stays one
-- statement and one round trip, and concurrent appenders to a stream chain
-- correctly: the head is read and written under the stream row's lock.
ALTER TABLE eventstore_events ADD COLUMN hash bytea;

-- hash is the stream's head: the hash of its last event. prev_hash is the
-- head before the stream's latest append (the append statement needs the
-- old head in RETURNING, which shows only the new row: it sets
-- prev_hash = hash, hash = <new head> and chains the events from prev_hash).
ALTER TABLE eventstore_streams ADD COLUMN hash bytea, ADD COLUMN prev_hash bytea;

-- eventstore_event_hash is the hash of one event, M as above. STABLE, not
-- IMMUTABLE, only because convert_to is; it is inlined into the statements
-- that call it.
CREATE FUNCTION eventstore_event_hash(prev bytea, version bigint, event_id uuid, stream_id text, type text, data bytea, metadata text)
RETURNS bytea
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT sha256(
	prev
	|| int8send(version)
	|| uuid_send(event_id)
	|| int4send(octet_length(convert_to(stream_id, 'UTF8'))) || convert_to(stream_id, 'UTF8')
	|| int4send(octet_length(convert_to(type, 'UTF8'))) || convert_to(type, 'UTF8')
	|| int4send(octet_length(data)) || data
	|| int4send(octet_length(convert_to(metadata, 'UTF8'))) || convert_to(metadata, 'UTF8')
)
$$;

-- eventstore_chain returns the hashes of events appended together to a
-- stream whose head is prev, the first at version first_version: element i
-- chains from element i-1.
CREATE FUNCTION eventstore_chain(prev bytea, first_version bigint, stream_id text, event_ids uuid[], types text[], data bytea[], metadata json[])
RETURNS bytea[]
LANGUAGE plpgsql STABLE PARALLEL SAFE
AS $$
DECLARE
	hashes bytea[] := '{}';
	h bytea := prev;
	e record;
BEGIN
	FOR e IN
		SELECT u.event_id, u.type, u.data, u.metadata, u.n
		FROM unnest(event_ids, types, data, metadata) WITH ORDINALITY AS u(event_id, type, data, metadata, n)
		ORDER BY u.n
	LOOP
		h := eventstore_event_hash(h, first_version + e.n - 1, e.event_id, stream_id, e.type, e.data, e.metadata::text);
		hashes := array_append(hashes, h);
	END LOOP;
	RETURN hashes;
END
$$;

-- Chain the events already stored, stream by stream in version order.
UPDATE eventstore_events e SET hash = c.hash
FROM (
	SELECT s.stream_id, v.version, v.hash
	FROM (
		SELECT stream_id,
			array_agg(version ORDER BY version) AS versions,
			eventstore_chain(decode(repeat('00', 32), 'hex'), 1, stream_id,
				array_agg(event_id ORDER BY version), array_agg(type ORDER BY version),
				array_agg(data ORDER BY version), array_agg(metadata ORDER BY version)) AS hashes
		FROM eventstore_events
		GROUP BY stream_id
	) s, unnest(s.versions, s.hashes) AS v(version, hash)
) c
WHERE e.stream_id = c.stream_id AND e.version = c.version;

UPDATE eventstore_streams s SET
	hash = coalesce((SELECT e.hash FROM eventstore_events e WHERE e.stream_id = s.stream_id AND e.version = s.version),
		decode(repeat('00', 32), 'hex')),
	prev_hash = coalesce((SELECT e.hash FROM eventstore_events e WHERE e.stream_id = s.stream_id AND e.version = s.version - 1),
		decode(repeat('00', 32), 'hex'));

ALTER TABLE eventstore_events
	ALTER COLUMN hash SET NOT NULL,
	ADD CONSTRAINT eventstore_events_hash_check CHECK (octet_length(hash) = 32);
ALTER TABLE eventstore_streams
	ALTER COLUMN hash SET NOT NULL,
	ALTER COLUMN prev_hash SET NOT NULL,
	ADD CONSTRAINT eventstore_streams_hash_check CHECK (octet_length(hash) = 32 AND octet_length(prev_hash) = 32);

---- create above / drop below ----

ALTER TABLE eventstore_streams DROP CONSTRAINT eventstore_streams_hash_check, DROP COLUMN prev_hash, DROP COLUMN hash;
ALTER TABLE eventstore_events DROP CONSTRAINT eventstore_events_hash_check, DROP COLUMN hash;
DROP FUNCTION eventstore_chain(bytea, bigint, text, uuid[], text[], bytea[], json[]);
DROP FUNCTION eventstore_event_hash(bytea, bigint, uuid, text, text, bytea, text);
