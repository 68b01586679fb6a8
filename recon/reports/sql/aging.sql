-- The Summary's "Open exceptions by age": open exceptions of the lake (any period) per code,
-- currency and aging bucket on the as-of date, with the amount defined as in codes.sql (Σ exposure)
-- and their business dates.
SELECT code, currency, aging_bucket, count(*) AS count, CAST(sum(exposure) AS BIGINT) AS amount,
       min(business_date) AS first_date, max(business_date) AS last_date
FROM report_exceptions
WHERE status = 'open'
GROUP BY code, currency, aging_bucket
ORDER BY code, currency NULLS LAST, aging_bucket
