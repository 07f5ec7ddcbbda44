-- The workers' own tables. River's tables are migrated by rivermigrate.

-- charge_attempts guards "one charge per invoice attempt": a row is inserted
-- in the same transaction as the charge_invoice job, whoever enqueues it
-- (the payment reactor, the due work of a scheduled retry, a manual retry),
-- and the primary key refuses a second job for the same attempt.
CREATE TABLE charge_attempts (
    invoice_id  text        NOT NULL,
    attempt     integer     NOT NULL CHECK (attempt >= 1),
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (invoice_id, attempt)
);

-- shipments guards "one order per product per due date": a row is inserted
-- in the same transaction as the shipment_due job (by the due work or by
-- POST /v1/scheduler/shipments) and the primary key refuses a second.
CREATE TABLE shipments (
    subscription_id text        NOT NULL,
    product_id      text        NOT NULL,
    due_on          date        NOT NULL,
    enqueued_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (subscription_id, product_id, due_on)
);

-- due_work is what falls due when: one row per (kind, ref), maintained from
-- the events by the reactor_due_work consumer (in the transaction of its
-- checkpoint), and marked enqueued by the due-work runner in the
-- transaction that inserts its job. A row whose due time or arguments
-- change is pending again; one whose do not stays enqueued, so a repeated
-- event enqueues nothing twice.
CREATE TABLE due_work (
    kind        text        NOT NULL,
    ref         text        NOT NULL,
    due_at      timestamptz NOT NULL,
    args        jsonb       NOT NULL,
    enqueued_at timestamptz,
    PRIMARY KEY (kind, ref)
);
CREATE INDEX due_work_pending ON due_work (due_at) WHERE enqueued_at IS NULL;

-- email_throttle is the email reactor's memory of the last payment_failed
-- email planned per customer (email.PolicyInput.LastPaymentFailedAt),
-- written with its checkpoint so that a replay throttles the same way.
CREATE TABLE email_throttle (
    customer_id            text        PRIMARY KEY,
    last_payment_failed_at timestamptz NOT NULL
);

-- test_clock is the test clock's now (TEST_CLOCK=1 only), one row, so that
-- it survives restarts and every process of the service sees one time.
CREATE TABLE test_clock (
    singleton  boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    now        timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
