-- Report API funds entries (capture, refund, fees-retained, payout-scheduled, ... : an open set)
-- of the settlement read window: the period widened by $span days on both sides (runner.py), so
-- that the settlement summary finds the payout before the period, BALANCE_BREAK the entry before
-- each entry of the period, and NOT_SETTLED and the Vipps side the funds entry of a Sales entry
-- dated near an edge. Filtering the raw files by business date first lets DuckDB skip every other
-- partition. One row per entry_key: an entry landed several times (from the feed and from a
-- by-date listing, or by a rerun) counts once, as its first landed copy, with the highest feed
-- position (feed_seq) and by-date position (date_seq) that any of its copies carries.
-- Almost every entry lands once: those pass as they are, and only the entries landed more than
-- once are ranked (ranking every row would sort the whole window for a few copies).
-- Only the columns later steps read are staged (stg_vipps_fees.sql has the same ones).
WITH funds AS NOT MATERIALIZED (
    SELECT * FROM raw_vipps_funds_entries WHERE business_date BETWEEN $date_from - $span AND $date_to + $span
), repeated AS (
    SELECT entry_key FROM funds GROUP BY entry_key HAVING count(*) > 1
)
SELECT 'funds' AS feed, entry_key, ledger_id, entry_type, psp_reference, reference, time, ledger_date, currency,
       amount, balance_before, balance_after, feed_seq, date_seq, business_date
FROM funds ANTI JOIN repeated AS r ON r.entry_key IS NOT DISTINCT FROM funds.entry_key
UNION ALL
SELECT 'funds', entry_key, ledger_id, entry_type, psp_reference, reference, time, ledger_date, currency,
       amount, balance_before, balance_after,
       max(feed_seq) OVER copies, max(date_seq) OVER copies, business_date
FROM funds SEMI JOIN repeated AS r ON r.entry_key IS NOT DISTINCT FROM funds.entry_key
WINDOW copies AS (PARTITION BY entry_key ORDER BY landing_seq(_landed_at, _row_id)
                  ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
QUALIFY row_number() OVER copies = 1
