-- Entur payment transactions of the read window, each in its latest landed version (the API
-- always answers with the current one).
SELECT payment_id, transaction_id, order_id, status, amount, captured_amount, currency, created_at,
       payment_type, external_transaction_id, business_date
FROM raw_entur_payment_transactions
WHERE business_date BETWEEN $date_from - $window AND $date_to + $window
QUALIFY row_number() OVER (PARTITION BY payment_id, transaction_id
                           ORDER BY landing_seq(_landed_at, _row_id) DESC) = 1
