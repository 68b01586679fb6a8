-- The Matched sheet (optional): every matched unit of the period whose outcome is MATCHED, in
-- the order reconcile wrote them (kind, key, order, ids), one page of the file at a time.
-- Units with another outcome are exceptions and appear on the Mismatches sheet instead.
SELECT kind, match_key, ledger_id, reference, psp_reference, order_id, payment_id, credit_id,
       entur_transaction_id, vipps_amount, entur_amount, difference, vipps_currency, entur_currency,
       vipps_date, entur_date, row_date
FROM recon_matches
WHERE outcome = 'MATCHED' AND file_row_number >= $first AND file_row_number < $first + $page
ORDER BY file_row_number
