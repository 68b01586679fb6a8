-- recon_exceptions: one row per exception ID ever produced, rebuilt from every reconcile run's rows
-- (recon_mismatches_history), the checks each run made (recon_checks_history) and the accountants'
-- resolutions (recon_resolutions); $today is the as-of date for ages.
--   status   'resolved': its latest resolution was made at the amounts it still has (an exception
--            whose amounts changed since opens again; recon_resolutions keeps the history);
--            'open': produced by the latest run that decided it; 'cleared': a later run covered
--            its business date with a complete check of its code and did not produce it (late data
--            explained it). A run whose check of that code was incomplete (a source failed) never
--            clears it. "Latest" is by the run's reconciled_at (the lake's clock, which only moves
--            forward), then run id.
--   amounts, explanation and IDs are those of the latest run that produced it.
WITH seen AS (
    SELECT *, (coalesce(reconciled_at, TIMESTAMPTZ '1970-01-01 00:00:00+00'), run_id) AS run_order
    FROM recon_mismatches_history WHERE exception_id IS NOT NULL
), checks AS (
    SELECT *, (coalesce(reconciled_at, TIMESTAMPTZ '1970-01-01 00:00:00+00'), run_id) AS run_order
    FROM recon_checks_history
), latest AS (
    SELECT * FROM seen QUALIFY row_number() OVER (PARTITION BY exception_id ORDER BY run_order DESC) = 1
), stats AS (
    SELECT exception_id, arg_min(run_id, run_order) AS first_run_id, arg_max(run_id, run_order) AS last_run_id,
           max(run_order) AS last_order,
           min(coalesce(as_of, period_to)) AS first_seen, max(coalesce(as_of, period_to)) AS last_seen,
           count(DISTINCT run_id) AS times_seen
    FROM seen GROUP BY exception_id
), cleared_by AS (
    -- The latest run that covered the business date with a complete check of the code.
    SELECT l.exception_id, max(c.run_order) AS run_order
    FROM latest AS l
    JOIN checks AS c
        ON c.code = l.code AND l.business_date BETWEEN c.period_from AND c.period_to AND c.incomplete IS NULL
    GROUP BY l.exception_id
), resolution AS (
    SELECT * FROM recon_resolutions
    QUALIFY row_number() OVER (PARTITION BY exception_id ORDER BY resolved_at DESC, seq DESC) = 1
)
SELECT l.exception_id, l.code,
       CASE WHEN r.exception_id IS NOT NULL
                 AND r.vipps_amount IS NOT DISTINCT FROM l.vipps_amount
                 AND r.entur_amount IS NOT DISTINCT FROM l.entur_amount
                 AND r.booking_amount IS NOT DISTINCT FROM l.booking_amount
                 AND r.difference IS NOT DISTINCT FROM l.difference THEN 'resolved'
            WHEN cb.run_order IS NULL OR cb.run_order <= st.last_order THEN 'open'
            ELSE 'cleared' END AS status,
       l.ledger_id, l.reference, l.psp_reference, l.order_id, l.entur_payment_id, l.entur_transaction_id,
       l.entur_credit_id, l.booking_id, l.vipps_amount, l.entur_amount, l.booking_amount, l.difference,
       l.currency, l.business_date, l.explanation,
       st.first_run_id, st.first_seen, st.last_run_id, st.last_seen, st.times_seen,
       r.resolution, r.comment, r.owner, r.resolved_at, r.file_name AS resolved_from,
       CAST($today - l.business_date AS BIGINT) AS age_days,
       CASE WHEN $today - l.business_date <= 2 THEN '0-2'
            WHEN $today - l.business_date <= 7 THEN '3-7'
            WHEN $today - l.business_date <= 30 THEN '8-30'
            ELSE 'over 30' END AS aging_bucket
FROM latest AS l
JOIN stats AS st USING (exception_id)
LEFT JOIN cleared_by AS cb USING (exception_id)
LEFT JOIN resolution AS r USING (exception_id)
ORDER BY l.business_date, l.code, l.exception_id
