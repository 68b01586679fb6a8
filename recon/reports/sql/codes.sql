-- Exceptions per code and currency for the Summary. The amount is each row's exposure
-- (recon/reconcile/sql/mismatches.sql: |difference|, or the amount involved), as the runner's by_code.
SELECT code, currency, count(*) AS count, CAST(sum(exposure) AS BIGINT) AS amount
FROM recon_mismatches
GROUP BY code, currency
ORDER BY code, currency NULLS LAST
