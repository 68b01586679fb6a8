-- Entur credit transactions of the read window, each in its latest landed version.
SELECT credit_id, transaction_id, order_id, credit_status, status, amount, currency, created_at,
       reimbursement_method, external_transaction_id, business_date
FROM raw_entur_credit_transactions
WHERE business_date BETWEEN $date_from - $window AND $date_to + $window
QUALIFY row_number() OVER (PARTITION BY credit_id, transaction_id
                           ORDER BY _landed_at DESC, CAST(split_part(_row_id, ':', 2) AS BIGINT) DESC) = 1
