-- The Mismatches sheet: one row per exception of the reconcile run, with both sides' ids,
-- amounts in minor units (the writer shows major units), currencies, business dates and the
-- exception's age in days on the report's as-of date ($today); its exception ID, and from
-- recon_exceptions (report_exceptions.sql) when it was first seen and its status.
-- Read one page at a time in the order reconcile wrote the rows (code, business date, ledger,
-- ids); recon/reports/workbook.py gives the view each row's file_row_number. A page is bounded in memory
-- however many exceptions there are, where one ORDER BY over all of them would hold them all.
SELECT m.code, m.explanation, m.kind, m.exception_id, e.first_seen, e.status, m.ledger_id, m.reference,
       m.psp_reference, m.order_id, m.entur_payment_id, m.entur_transaction_id, m.entur_credit_id, m.booking_id,
       m.vipps_amount, m.entur_amount, m.booking_amount, m.difference, m.currency, m.entur_currency,
       m.vipps_date, m.entur_date, m.business_date,
       CAST($today - m.business_date AS BIGINT) AS age_days, m.provisional, m.incomplete,
       m.vipps_api, m.feed, m.entry_type, m.settled_amount, m.balance_before, m.balance_after,
       m.previous_balance_after, m.ledger_date, m.line_id, m.line_gross, m.line_net, m.stated_vat, m.expected_vat
FROM recon_mismatches AS m
LEFT JOIN report_exceptions AS e USING (exception_id)
WHERE m.file_row_number >= $first AND m.file_row_number < $first + $page
ORDER BY m.file_row_number
