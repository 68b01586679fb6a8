-- Entur Vipps transactions in a final state, of the read window: payment transactions CAPTURED
-- (captures' counterparts) and credit transactions of CREDITED credits (refunds' counterparts).
-- Card, cash and other methods, and attempts that never completed, take no part. A transaction is
-- known by its row here (rowid); its id as text is macro_entur_id.sql's, computed where ties are
-- broken.
SELECT 'capture' AS kind,
       payment_id, NULL::VARCHAR AS credit_id, transaction_id,
       external_transaction_id, order_id AS order_key, order_id,
       abs(coalesce(captured_amount, amount)) AS amount, currency,
       business_date AS entur_date, created_at
FROM stg_payment_transactions
WHERE payment_type = 'VIPPS' AND status = 'CAPTURED'
UNION ALL
SELECT 'refund',
       NULL, credit_id, transaction_id,
       external_transaction_id, order_id, order_id,
       abs(amount), currency, business_date, created_at
FROM stg_credit_transactions
WHERE reimbursement_method = 'VIPPS' AND coalesce(credit_status, status) = 'CREDITED'
