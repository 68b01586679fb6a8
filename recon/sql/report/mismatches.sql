-- The Mismatches sheet: one row per exception of the reconcile run, with both sides' ids,
-- amounts in minor units (the writer shows major units), currencies, business dates and the
-- exception's age in days on the report's as-of date ($today).
SELECT code, explanation, kind, ledger_id, reference, psp_reference, order_id, entur_payment_id,
       entur_transaction_id, entur_credit_id, booking_id, vipps_amount, entur_amount, booking_amount,
       difference, currency, entur_currency, vipps_date, entur_date, business_date,
       CAST($today - business_date AS BIGINT) AS age_days, provisional
FROM recon_mismatches
ORDER BY code, business_date, ledger_id NULLS LAST, reference NULLS LAST, psp_reference NULLS LAST,
         order_id NULLS LAST, entur_transaction_id NULLS LAST, entur_credit_id NULLS LAST,
         booking_id NULLS LAST, explanation
