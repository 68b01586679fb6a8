-- The Report API entries of one feed ($feed: 'funds' or 'fees'; the runner runs this query once for
-- each) of the settlement read window (stg_vipps_funds.sql, stg_vipps_fees.sql) that landed more
-- than once (from the feed and from a by-date listing, or by a rerun): per entry_key its first
-- landed copy, with the highest feed position (feed_seq) and by-date position (date_seq) that any
-- of its copies carries. Almost every entry lands once, so this table is small; the staged views
-- read every other entry straight from the Parquet files.
WITH entries AS NOT MATERIALIZED (
    SELECT * FROM (SELECT 'funds' AS feed, * FROM raw_vipps_funds_entries
                   UNION ALL BY NAME
                   SELECT 'fees' AS feed, * FROM raw_vipps_fees_entries)
    WHERE feed = $feed AND business_date BETWEEN $date_from - $span AND $date_to + $span
), candidates AS (
    -- Copies of one entry share its key's hash: only the rows whose key hash is on another row too
    -- are ranked by their key's text (ten million distinct strings would not fit in memory, their
    -- hashes do; a hash two keys share only brings both into the ranking).
    SELECT * FROM entries
    SEMI JOIN (SELECT hash(entry_key) AS h FROM entries GROUP BY h HAVING count(*) > 1) AS c
        ON hash(entries.entry_key) = c.h
)
SELECT feed, entry_key, ledger_id, entry_type, psp_reference, reference, time, ledger_date, currency,
       amount, balance_before, balance_after,
       max(feed_seq) OVER copies AS feed_seq, max(date_seq) OVER copies AS date_seq, business_date
FROM candidates
WINDOW copies AS (PARTITION BY entry_key ORDER BY landing_seq(_landed_at, _row_id)
                  ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
QUALIFY row_number() OVER copies = 1 AND count(*) OVER copies > 1
