-- name: ShipmentInsert :execrows
-- Reserves one scheduled shipment; 0 rows when it was reserved before.
INSERT INTO shipments (subscription_id, product_id, due_on)
VALUES (@subscription_id::text, @product_id::text, @due_on::date)
ON CONFLICT (subscription_id, product_id, due_on) DO NOTHING;
