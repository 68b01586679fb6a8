-- An Entur transaction's id, by which ties among Entur transactions are broken:
-- 'payment:<paymentId>:<transactionId>' for a payment transaction (kind 'capture'),
-- 'credit:<creditId>:<transactionId>' for a credit transaction. Computed where ties are broken (few
-- rows), not stored with every transaction of entur_side.sql.
CREATE OR REPLACE TEMP MACRO entur_id(kind, payment_id, credit_id, transaction_id) AS
    CASE WHEN kind = 'capture' THEN 'payment:' || payment_id ELSE 'credit:' || credit_id END || ':' || transaction_id
