-- name: ChargeAttemptInsert :execrows
-- Reserves one charge attempt; 0 rows when it was reserved before.
INSERT INTO charge_attempts (invoice_id, attempt)
VALUES (@invoice_id::text, @attempt::integer)
ON CONFLICT (invoice_id, attempt) DO NOTHING;
