-- Entur credit transactions of the read window, each in its latest landed version.
SELECT credit_id, transaction_id, order_id, credit_status, status, amount, currency, created_at,
       reimbursement_method, external_transaction_id, business_date
FROM raw_entur_credit_transactions
WHERE business_date BETWEEN $date_from - $window AND $date_to + $window
QUALIFY row_number() OVER (PARTITION BY credit_id, transaction_id
                           ORDER BY landing_seq(_landed_at, _row_id) DESC) = 1
