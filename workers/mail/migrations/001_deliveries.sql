-- The mail worker's delivery ledger: one row per email it tried to hand to
-- the SMTP server, written around the SMTP transaction so that a worker
-- that dies after the server accepted a message never sends it again (see
-- workers/mail/deliver.go for the protocol and the window that remains).
--
-- state:
--   sending      claimed by a worker (claimed_at, database time): nothing
--                can have been delivered yet; a claim older than the lease
--                is abandoned and may be taken over.
--   handed_over  the message's final "." is on its way to the server: it may
--                have been delivered. Fresh: a worker waits for the answer;
--                older than the lease: the outcome is unknown, and the email
--                is not sent again.
--   accepted     the server answered 250: delivered (accepted_at is the
--                business clock's time, which email.sent records).
--   not_sent     the attempt ended before the final "." or the server
--                refused the message: another attempt may send it.
--
-- message_id is fixed by the first claim and reused by every attempt, so a
-- message the server saw twice is recognisably the same one. It is derived
-- from email_id, so it needs no UNIQUE of its own (one would also make
-- concurrent first claims fail instead of conflict on the primary key).
CREATE TABLE mail_deliveries (
    email_id text NOT NULL,
    message_id text NOT NULL,
    state text NOT NULL,
    attempts integer NOT NULL,
    claimed_at timestamptz NOT NULL,
    handed_over_at timestamptz,
    accepted_at timestamptz,
    server_reply text NOT NULL DEFAULT '',
    CONSTRAINT mail_deliveries_pkey PRIMARY KEY (email_id),
    CONSTRAINT mail_deliveries_state_check CHECK (state IN ('sending', 'handed_over', 'accepted', 'not_sent')),
    CONSTRAINT mail_deliveries_attempts_check CHECK (attempts > 0),
    CONSTRAINT mail_deliveries_accepted_check CHECK ((state = 'accepted') = (accepted_at IS NOT NULL))
);

---- create above / drop below ----

DROP TABLE mail_deliveries;
