-- BALANCE_BREAK (its rows are written by mismatches.sql): each ledger's funds feed and its fees
-- feed as a chain of running balances. Entries with a feed position (feed_seq) are chained per
-- ledger and feed in feed order; entries landed only from a by-date listing (no feed_seq) are
-- chained per ledger, feed and ledger date in their by-date order (date_seq). The first entry of a
-- chain has no previous one, and neither has an entry whose previous one is dated before the
-- settlement read window (SETTLEMENT_SPAN_DAYS in runner.py before the period). An entry breaks
-- the chain when
--   balance_after ≠ balance_before + amount, or balance_before ≠ the previous entry's balance_after.
-- One row per breaking entry of the period (by its business date). `gap` is how far the balance
-- moved beyond what the entry explains: (balance_before − previous balance_after, where there is a
-- previous) + (balance_after − balance_before − amount). An unbroken chain proves that no entry is
-- missing or doubled. Re-landed entries are one entry (staging), so they never break it.
-- One feed ($feed: 'funds' or 'fees') per run of this query: the runner runs it once for each, so
-- each sort into chain order holds one feed's entries only.
WITH entries AS NOT MATERIALIZED (
    -- Only what the chain needs; the breaking entries' other columns are looked up afterwards
    -- (entry_key is unique per feed after staging).
    SELECT feed, entry_key, ledger_id, time, ledger_date, amount, balance_before, balance_after, feed_seq, date_seq,
           business_date
    FROM (SELECT * FROM stg_vipps_funds UNION ALL SELECT * FROM stg_vipps_fees)
    WHERE feed = $feed
), dense AS (
    -- The ledgers whose feed positions in the read window are unique and leave no gap
    -- (stg_vipps_chains.sql): there the previous entry of each entry is the one a position before
    -- it, found by a join rather than by sorting ten million entries. Any other chain (a position
    -- repeated, or one missing within the window) is sorted (by_sort).
    SELECT ledger_id FROM stg_vipps_chains WHERE feed = $feed AND dense
), by_position AS (
    SELECT e.*, p.balance_after AS previous_balance_after
    FROM entries AS e
    SEMI JOIN dense AS d ON d.ledger_id IS NOT DISTINCT FROM e.ledger_id
    LEFT JOIN (SELECT ledger_id, feed_seq, balance_after FROM entries) AS p
        ON p.ledger_id IS NOT DISTINCT FROM e.ledger_id AND p.feed_seq = e.feed_seq - 1
    WHERE e.feed_seq IS NOT NULL
), by_sort AS (
    SELECT *,
           lag(balance_after) OVER (
               PARTITION BY ledger_id, feed_seq IS NULL, CASE WHEN feed_seq IS NULL THEN ledger_date END
               -- by-date chains: by time first, so a listing in another order than the feed's
               -- does not break them
               ORDER BY feed_seq, time, date_seq, entry_key) AS previous_balance_after
    FROM entries AS e
    WHERE e.feed_seq IS NULL
       OR NOT EXISTS (SELECT 1 FROM dense AS d WHERE d.ledger_id IS NOT DISTINCT FROM e.ledger_id)
), chained AS (
    SELECT * FROM by_position UNION ALL SELECT * FROM by_sort
), broken AS (
    SELECT *,
           balance_after <> balance_before + amount AS adds_wrong,
           previous_balance_after IS NOT NULL AND balance_before <> previous_balance_after AS jumps
    FROM chained
    WHERE business_date BETWEEN $date_from AND $date_to
), breaking AS (
    SELECT b.*, d.entry_type, d.psp_reference, d.reference, d.currency
    FROM broken AS b
    JOIN (SELECT feed, entry_key, entry_type, psp_reference, reference, currency FROM stg_vipps_funds
          UNION ALL
          SELECT feed, entry_key, entry_type, psp_reference, reference, currency FROM stg_vipps_fees) AS d
        ON d.feed = b.feed AND d.entry_key IS NOT DISTINCT FROM b.entry_key AND d.feed = $feed
    WHERE b.jumps OR b.adds_wrong
)
SELECT feed, entry_key, ledger_id, entry_type, psp_reference, reference, currency, amount, balance_before,
       balance_after, previous_balance_after, ledger_date, business_date,
       coalesce(balance_before - previous_balance_after, 0) + (balance_after - balance_before - amount) AS gap,
       'ledger ' || ledger_id || ', ' || feed || ' feed: the ' || entry_type || ' entry of ' || money(amount, currency)
       || ' (pspReference ' || coalesce(psp_reference, '-') || ', ledger date ' || CAST(ledger_date AS VARCHAR) || ') '
       || (CASE WHEN jumps THEN
               'starts at balance ' || money(balance_before, currency) || ' but the entry before it ended at '
               || money(previous_balance_after, currency) || ', a gap of '
               || money(balance_before - previous_balance_after, currency)
               || ': an entry is missing or doubled between the two'
           ELSE '' END)
       || (CASE WHEN jumps AND adds_wrong THEN '; and it ' ELSE '' END)
       || (CASE WHEN adds_wrong THEN
               'moves the balance from ' || money(balance_before, currency) || ' to ' || money(balance_after, currency)
               || ', which is not balance before + amount (' || money(balance_before + amount, currency) || '), a gap of '
               || money(balance_after - balance_before - amount, currency)
           ELSE '' END) AS explanation
FROM breaking
