-- Control: rows and the sum of one amount column per landed table and currency (deduplicated
-- views, whole lake). The amount column is named in the result.
SELECT 'vipps' AS source, 'vipps_sales_entries' AS table_name, currency, count(*) AS rows,
       'gross' AS amount_column, CAST(sum(gross) AS BIGINT) AS amount
FROM vipps_sales_entries GROUP BY currency
UNION ALL
SELECT 'vipps', 'vipps_sales_lines', currency, count(*), 'line_total_gross', CAST(sum(line_total_gross) AS BIGINT)
FROM vipps_sales_lines GROUP BY currency
UNION ALL
SELECT 'entur', 'entur_payments', currency, count(*), 'total_amount', CAST(sum(total_amount) AS BIGINT)
FROM entur_payments GROUP BY currency
UNION ALL
SELECT 'entur', 'entur_payment_transactions', currency, count(*), 'amount', CAST(sum(amount) AS BIGINT)
FROM entur_payment_transactions GROUP BY currency
UNION ALL
SELECT 'entur', 'entur_credits', currency, count(*), 'total_credit_amount', CAST(sum(total_credit_amount) AS BIGINT)
FROM entur_credits GROUP BY currency
UNION ALL
SELECT 'entur', 'entur_credit_transactions', currency, count(*), 'amount', CAST(sum(amount) AS BIGINT)
FROM entur_credit_transactions GROUP BY currency
UNION ALL
SELECT 'samtrafiken', 'samtrafiken_booking_events', currency, count(*), 'total_price', CAST(sum(total_price) AS BIGINT)
FROM samtrafiken_booking_events GROUP BY currency
UNION ALL
SELECT 'vipps_report', 'vipps_ledgers', currency, count(*), NULL, NULL
FROM vipps_ledgers GROUP BY currency
UNION ALL
SELECT 'vipps_report', 'vipps_funds_entries', currency, count(*), 'amount', CAST(sum(amount) AS BIGINT)
FROM vipps_funds_entries GROUP BY currency
UNION ALL
SELECT 'vipps_report', 'vipps_fees_entries', currency, count(*), 'amount', CAST(sum(amount) AS BIGINT)
FROM vipps_fees_entries GROUP BY currency
UNION ALL
SELECT source, 'quarantine', NULL, count(*), NULL, NULL
FROM quarantine GROUP BY source
ORDER BY 1, 2, 3 NULLS LAST
