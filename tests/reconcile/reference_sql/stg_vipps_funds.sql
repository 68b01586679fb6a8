-- Report API funds entries (capture, refund, fees-retained, payout-scheduled, ... : an open set)
-- of the settlement read window: the period widened by $span days on both sides (runner.py), so
-- that the settlement summary finds the payout before the period, BALANCE_BREAK the entry before
-- each entry of the period, and NOT_SETTLED and the Vipps side the funds entry of a Sales entry
-- dated near an edge. Filtering the raw files by business date first lets DuckDB skip every other
-- partition. One row per entry_key: an entry landed several times (from the feed and from a
-- by-date listing, or by a rerun) counts once, as its first landed copy, with the highest feed
-- position (feed_seq) and by-date position (date_seq) that any of its copies carries.
SELECT 'funds' AS feed, entry_key, ledger_id, entry_type, psp_reference, reference, time, ledger_date, currency,
       amount, balance_before, balance_after, recipient_handle,
       max(feed_seq) OVER copies AS feed_seq, max(date_seq) OVER copies AS date_seq, business_date, _row_id
FROM raw_vipps_funds_entries
WHERE business_date BETWEEN $date_from - $span AND $date_to + $span
WINDOW copies AS (PARTITION BY entry_key ORDER BY landing_seq(_landed_at, _row_id)
                  ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
QUALIFY row_number() OVER copies = 1
