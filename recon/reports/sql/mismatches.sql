-- The Mismatches sheet: one row per exception of the reconcile run, with both sides' ids,
-- amounts in minor units (the writer shows major units), currencies, business dates and the
-- exception's age in days on the report's as-of date ($today).
-- Read one page at a time in the order reconcile wrote the rows (code, business date, ledger,
-- ids); recon/reports/workbook.py gives the view each row's file_row_number. A page is bounded in memory
-- however many exceptions there are, where one ORDER BY over all of them would hold them all.
SELECT code, explanation, kind, ledger_id, reference, psp_reference, order_id, entur_payment_id,
       entur_transaction_id, entur_credit_id, booking_id, vipps_amount, entur_amount, booking_amount,
       difference, currency, entur_currency, vipps_date, entur_date, business_date,
       CAST($today - business_date AS BIGINT) AS age_days, provisional, incomplete,
       vipps_api, feed, entry_type, settled_amount, balance_before, balance_after, previous_balance_after,
       ledger_date
FROM recon_mismatches
WHERE file_row_number >= $first AND file_row_number < $first + $page
ORDER BY file_row_number
