-- The Worklist sheet: every open exception of the lake, of any period, oldest business date
-- first (then code and ID), one page at a time (worklist_row, see report_exceptions.sql). Cleared
-- ones (late data explained them) and resolved ones are not listed; amounts in minor units.
-- The three editable columns (Resolution, Comment, Owner) are written empty after these.
SELECT exception_id, code, status, first_seen, age_days, aging_bucket, business_date, ledger_id, reference,
       psp_reference, order_id, entur_transaction_id, entur_credit_id, booking_id, vipps_amount, entur_amount,
       booking_amount, difference, currency, entur_currency, explanation
FROM report_exceptions
WHERE worklist_row >= $first AND worklist_row < $first + $page
ORDER BY worklist_row
