-- Report API fees entries (capture-fee, fees-retained, fees-invoiced, credit-note, ... : an open
-- set) of the settlement read window, as stg_vipps_funds.sql reads the funds entries: the period
-- widened by $span days on both sides, one row per entry_key (its first landed copy), with the
-- highest feed_seq and date_seq of its copies; only the entries landed more than once are ranked.
-- A fee's pspReference repeats its capture's and its ledger date may differ from the capture's.
WITH fees AS NOT MATERIALIZED (
    SELECT * FROM raw_vipps_fees_entries WHERE business_date BETWEEN $date_from - $span AND $date_to + $span
), repeated AS (
    SELECT entry_key FROM fees GROUP BY entry_key HAVING count(*) > 1
)
SELECT 'fees' AS feed, entry_key, ledger_id, entry_type, psp_reference, reference, time, ledger_date, currency,
       amount, balance_before, balance_after, feed_seq, date_seq, business_date
FROM fees ANTI JOIN repeated AS r ON r.entry_key IS NOT DISTINCT FROM fees.entry_key
UNION ALL
SELECT 'fees', entry_key, ledger_id, entry_type, psp_reference, reference, time, ledger_date, currency,
       amount, balance_before, balance_after,
       max(feed_seq) OVER copies, max(date_seq) OVER copies, business_date
FROM fees SEMI JOIN repeated AS r ON r.entry_key IS NOT DISTINCT FROM fees.entry_key
WINDOW copies AS (PARTITION BY entry_key ORDER BY landing_seq(_landed_at, _row_id)
                  ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
QUALIFY row_number() OVER copies = 1
