-- Per Report API feed ('funds', 'fees') and ledger of the settlement read window, how its entries
-- chain: by_feed, every entry has a feed position (feed_seq), so ledger order is feed order; dense,
-- the positions present are unique and leave no gap, as landing numbers a feed, so the entry
-- before each is the one a position before it, found by a join rather than by sorting the ledger.
-- A few rows, read by balance_check.sql and settlement_summary.sql.
SELECT feed, ledger_id, count(*) = count(feed_seq) AS by_feed,
       coalesce(count(feed_seq) = count(DISTINCT feed_seq)
                AND count(feed_seq) = max(feed_seq) - min(feed_seq) + 1, false) AS dense
FROM (SELECT feed, ledger_id, feed_seq FROM stg_vipps_funds
      UNION ALL
      SELECT feed, ledger_id, feed_seq FROM stg_vipps_fees)
GROUP BY feed, ledger_id
