-- Report API funds entries (capture, refund, fees-retained, payout-scheduled, ... : an open set)
-- of the settlement read window: the period widened by $span days on both sides (runner.py), so
-- that the settlement summary finds the payout before the period, BALANCE_BREAK the entry before
-- each entry of the period, and NOT_SETTLED and the Vipps side the funds entry of a Sales entry
-- dated near an edge. Filtering the raw files by business date first lets DuckDB skip every other
-- partition. One row per entry_key: an entry landed several times counts once, as its first
-- landed copy with the highest positions of its copies (stg_vipps_report_copies.sql).
-- A view, not a table: each step reads only the columns it needs from the Parquet files, so the
-- window is never held in memory as a whole (at ten million entries it would not fit).
SELECT 'funds' AS feed, entry_key, ledger_id, entry_type, psp_reference, reference, time, ledger_date, currency,
       amount, balance_before, balance_after, feed_seq, date_seq, business_date
FROM raw_vipps_funds_entries AS f
ANTI JOIN stg_vipps_funds_copies AS c ON c.entry_key IS NOT DISTINCT FROM f.entry_key
WHERE f.business_date BETWEEN $date_from - $span AND $date_to + $span
UNION ALL
SELECT * FROM stg_vipps_funds_copies
