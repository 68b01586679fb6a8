-- The Matched sheet (optional): every matched unit of the period whose outcome is MATCHED.
-- Units with another outcome are exceptions and appear on the Mismatches sheet instead.
SELECT kind, match_key, ledger_id, reference, psp_reference, order_id, payment_id, credit_id,
       entur_transaction_id, vipps_amount, entur_amount, difference, vipps_currency, entur_currency,
       vipps_date, entur_date, row_date
FROM recon_matches
WHERE outcome = 'MATCHED'
ORDER BY row_date, kind, match_key, order_key NULLS LAST, psp_reference NULLS LAST,
         entur_transaction_id NULLS LAST, reference NULLS LAST
