-- Entur payment transactions of the read window, each in its latest landed version (the API
-- always answers with the current one). Most transactions land once: only those landed again are
-- ranked.
WITH transactions AS NOT MATERIALIZED (
    SELECT * FROM raw_entur_payment_transactions
    WHERE business_date BETWEEN $date_from - $window AND $date_to + $window
), repeated AS (
    SELECT payment_id, transaction_id FROM transactions GROUP BY payment_id, transaction_id HAVING count(*) > 1
), latest AS (
    SELECT * FROM transactions
    ANTI JOIN repeated AS r ON r.payment_id IS NOT DISTINCT FROM transactions.payment_id
                           AND r.transaction_id IS NOT DISTINCT FROM transactions.transaction_id
    UNION ALL
    SELECT * FROM transactions
    SEMI JOIN repeated AS r ON r.payment_id IS NOT DISTINCT FROM transactions.payment_id
                           AND r.transaction_id IS NOT DISTINCT FROM transactions.transaction_id
    QUALIFY row_number() OVER (PARTITION BY payment_id, transaction_id
                               ORDER BY landing_seq(_landed_at, _row_id) DESC) = 1
)
SELECT payment_id, transaction_id, order_id, status, amount, captured_amount, currency, created_at,
       payment_type, external_transaction_id, business_date
FROM latest
