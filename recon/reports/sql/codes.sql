-- Exceptions per code and currency for the Summary. The amount is defined as in
-- recon/reconcile/runner.py (by_code): Σ |difference|, or the amount involved where there is none.
SELECT code, currency, count(*) AS count,
       CAST(sum(abs(coalesce(difference, vipps_amount, entur_amount, booking_amount, 0))) AS BIGINT) AS amount
FROM recon_mismatches
GROUP BY code, currency
ORDER BY code, currency NULLS LAST
