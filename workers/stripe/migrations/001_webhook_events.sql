-- The webhook inbox: every Stripe event received, by Stripe's event id, so
-- that a redelivered event (Stripe delivers at least once, and retries for
-- three days after any non-2xx) is recognised and not applied again. Only
-- ids and the type are kept, never the payload: it can hold personal data
-- (billing details), which must stay erasable (DESIGN.md point 8).
CREATE TABLE stripe_webhook_events (
    event_id          text        PRIMARY KEY,
    type              text        NOT NULL,
    -- The event's object: pi_..., ch_..., dp_... ("" when unknown).
    object_id         text        NOT NULL,
    -- When Stripe created the event.
    stripe_created_at timestamptz NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now(),
    last_received_at  timestamptz NOT NULL DEFAULT now(),
    deliveries        integer     NOT NULL DEFAULT 1,
    -- Set once the event's effects are recorded (or it was found to have
    -- none); a delivery that failed halfway leaves it NULL, and Stripe's
    -- retry applies it again.
    applied_at        timestamptz,
    -- What applying it did: applied, ignored (and why), recorded.
    outcome           text
);

---- create above / drop below ----

DROP TABLE stripe_webhook_events;
