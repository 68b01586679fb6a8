-- The "By code" sheet: the exceptions of one code ($code) with every column any code shows there
-- (recon/reports/summary.py picks each code's own), in the order reconcile wrote them.
SELECT m.exception_id, m.business_date, e.status, CAST($today - m.business_date AS BIGINT) AS age_days,
       m.ledger_id, m.currency, m.reference, m.psp_reference, m.order_id, m.entur_payment_id,
       m.entur_transaction_id, m.entur_credit_id, m.booking_id, m.vipps_amount, m.entur_amount, m.booking_amount,
       m.difference, m.entur_currency, m.vipps_date, m.entur_date, m.vipps_api, m.feed, m.entry_type,
       m.settled_amount, m.balance_before, m.balance_after, m.previous_balance_after, m.ledger_date, m.line_id,
       m.line_gross, m.line_net, m.stated_vat, m.expected_vat, m.explanation
FROM recon_mismatches AS m
LEFT JOIN report_exceptions AS e USING (exception_id)
WHERE m.code = $code
ORDER BY m.file_row_number
