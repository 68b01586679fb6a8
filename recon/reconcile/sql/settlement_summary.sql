-- The settlement proof (settlement_summary): per ledger and payout (entry type payout-scheduled,
-- alias scheduled-for-payout), in ledger order, the funds entries the payout covers: those after
-- the previous payout up to and including this one. Ledger order is by ledger date, then feed
-- position (feed_seq), then by-date position (date_seq). The entries after the last payout form the
-- open row (is_open, payout NULL). Ledger order is feed order where every entry of the ledger
-- has a feed position (see `ordered`).
--   covers_from      the day after the previous payout's ledger date (the first payout read: the
--                    first ledger date read); covers_to: the payout's ledger date (open row: the
--                    last ledger date landed)
--   opening_balance  balance_before of the first entry covered; closing_balance: balance_after of
--                    the last entry covered (the payout itself for a payout row)
--   captures, refunds, fees_retained, other_movements (every other type, never dropped: new types
--                    appear without notice; other_types names each with its sum), payout_amount:
--                    sums of the entries' amounts as sent (refunds, fees and payouts negative)
--   ties             opening_balance + Σ every movement (the payout included) = closing_balance
--   sales_gross      the Sales API's captures − refunds (gross, absolute; entries with a
--                    pspReference, so cash, which never passes through Vipps, is left out) of
--                    that ledger with business dates from covers_from to covers_to
--   sales_captures_settled / report_only_captures: the covered funds captures that have a Sales
--                    entry (same ledger, entry type, pspReference) / that have none (ePayment)
-- Rows: the payouts whose dates (covers_from … covers_to) overlap the period, and the open row
-- when it starts on or before the period's end. The funds are read from SETTLEMENT_SPAN_DAYS
-- (runner.py) before the period to as many days after it (stg_vipps_funds.sql): a payout further
-- before the period is not seen, and then covers_from is the first ledger date read.
WITH ledgers AS (
    -- A ledger whose every entry has a feed position is taken in feed order: the order its balances
    -- chain in (a payout may be booked after an entry of the next ledger date). Otherwise, with
    -- entries landed only by date, by ledger date. Where the positions are also unique and leave no
    -- gap (as landing numbers a feed: `dense`), feed order is position order, and an entry's place
    -- needs no sort of the whole ledger (stg_vipps_chains.sql).
    SELECT ledger_id, by_feed, by_feed AND dense AS dense FROM stg_vipps_chains WHERE feed = 'funds'
), marked AS NOT MATERIALIZED (
    SELECT f.ledger_id, f.entry_type, f.psp_reference, f.currency, f.ledger_date, f.feed_seq, f.date_seq, f.time,
           f.entry_key, f.amount, f.balance_before, f.balance_after, l.by_feed, l.dense,
           f.entry_type IN ('payout-scheduled', 'scheduled-for-payout') AS is_payout,
           -- Which column an entry's amount adds to: every type not named here is 'other'.
           CASE WHEN is_payout THEN 'payout'
                WHEN f.entry_type IN ('capture', 'refund', 'fees-retained') THEN f.entry_type
                ELSE 'other' END AS movement,
           CASE WHEN movement = 'other' THEN f.entry_type END AS other_type,
           CASE WHEN is_payout THEN f.psp_reference END AS payout_psp_reference
    FROM stg_vipps_funds AS f JOIN ledgers AS l ON l.ledger_id IS NOT DISTINCT FROM f.ledger_id
), payouts AS (
    -- Dense ledgers: each payout's number k (1, 2, ...) in its ledger, in feed order. Few rows.
    SELECT ledger_id, feed_seq, row_number() OVER (PARTITION BY ledger_id ORDER BY feed_seq) AS k
    FROM marked WHERE dense AND is_payout
), payout_spans AS (
    -- Dense ledgers: group k holds the positions after payout k up to payout k + 1 (included),
    -- group 0 those up to the first payout, the last group those after the last payout (the
    -- open ends are the least and greatest BIGINT but one, so BETWEEN needs no NULL case).
    SELECT ledger_id, coalesce(k, 0) AS grp, coalesce(feed_seq + 1, -9223372036854775807) AS lo,
           coalesce(lead(feed_seq) OVER (PARTITION BY ledger_id ORDER BY k NULLS FIRST), 9223372036854775806) AS hi
    FROM (SELECT ledger_id, feed_seq, k FROM payouts
          UNION ALL SELECT ledger_id, NULL, NULL FROM ledgers WHERE dense)
), placed AS (
    -- pos: the entry's place in ledger order (on a dense ledger its position, which orders alike);
    -- grp: the number of payouts before it, so a payout closes its own group. On a dense ledger an
    -- entry finds its group among the few spans of its ledger (a payout a day: a few dozen), with
    -- no sort of the whole ledger.
    SELECT m.*, m.feed_seq AS pos, s.grp
    FROM marked AS m
    JOIN payout_spans AS s ON s.ledger_id IS NOT DISTINCT FROM m.ledger_id AND m.feed_seq BETWEEN s.lo AND s.hi
    WHERE m.dense
    UNION ALL BY NAME
    SELECT *,
           row_number() OVER ledger_order AS pos,
           coalesce(sum(CASE WHEN is_payout THEN 1 ELSE 0 END) OVER (
               ledger_order ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS grp
    FROM marked
    WHERE NOT dense
    WINDOW ledger_order AS (PARTITION BY ledger_id
                            ORDER BY CASE WHEN by_feed THEN feed_seq END, ledger_date, feed_seq NULLS LAST,
                                     date_seq NULLS LAST, time, entry_key)
), funds AS (
    -- has_sales (only read for captures): the entry mirrors a Sales entry, i.e. it is none of the
    -- few funds-only entries (a mark join on a small table).
    SELECT f.*,
           NOT EXISTS (SELECT 1 FROM stg_vipps_funds_unsold AS u WHERE u.entry_key = f.entry_key) AS has_sales
    FROM placed AS f
), per_type AS (
    -- Per group and type of the 'other' movements (other_type NULL: every other entry), so that the
    -- placed entries are aggregated once, as they stream in.
    SELECT ledger_id, grp, other_type, min(currency) AS currency,
           bool_or(is_payout) AS has_payout,
           max(payout_psp_reference) FILTER (WHERE is_payout) AS payout_psp_reference,
           max(ledger_date) FILTER (WHERE is_payout) AS payout_ledger_date,
           min(ledger_date) AS first_date, max(ledger_date) AS last_date,
           arg_min(balance_before, pos) AS opening_balance, min(pos) AS first_pos,
           arg_max(balance_after, pos) AS closing_balance, max(pos) AS last_pos,
           count(*) AS entries,
           sum(amount) FILTER (WHERE movement = 'capture') AS captures,
           sum(amount) FILTER (WHERE movement = 'refund') AS refunds,
           sum(amount) FILTER (WHERE movement = 'fees-retained') AS fees_retained,
           sum(amount) FILTER (WHERE movement = 'other') AS other_movements,
           sum(amount) FILTER (WHERE movement = 'payout') AS payout_amount,
           sum(amount) FILTER (WHERE movement = 'capture' AND has_sales) AS sales_captures_settled,
           sum(amount) FILTER (WHERE movement = 'capture' AND NOT has_sales) AS report_only_captures
    FROM funds
    GROUP BY ledger_id, grp, other_type
), groups AS (
    SELECT ledger_id, grp, min(currency) AS currency,
           bool_or(has_payout) AS has_payout,
           max(payout_psp_reference) AS payout_psp_reference,
           max(payout_ledger_date) AS payout_ledger_date,
           min(first_date) AS first_date, max(last_date) AS last_date,
           arg_min(opening_balance, first_pos) AS opening_balance, arg_max(closing_balance, last_pos) AS closing_balance,
           CAST(sum(entries) AS BIGINT) AS entries,
           CAST(coalesce(sum(captures), 0) AS BIGINT) AS captures,
           CAST(coalesce(sum(refunds), 0) AS BIGINT) AS refunds,
           CAST(coalesce(sum(fees_retained), 0) AS BIGINT) AS fees_retained,
           CAST(coalesce(sum(other_movements), 0) AS BIGINT) AS other_movements,
           CAST(coalesce(sum(payout_amount), 0) AS BIGINT) AS payout_amount,
           CAST(coalesce(sum(sales_captures_settled), 0) AS BIGINT) AS sales_captures_settled,
           CAST(coalesce(sum(report_only_captures), 0) AS BIGINT) AS report_only_captures,
           string_agg(other_type || ': ' || money(CAST(other_movements AS BIGINT), currency), '; ' ORDER BY other_type)
               AS other_types
    FROM per_type
    GROUP BY ledger_id, grp
), spans AS (
    SELECT g.*,
           coalesce(lag(payout_ledger_date) OVER (PARTITION BY ledger_id ORDER BY grp) + 1, first_date) AS covers_from,
           coalesce(payout_ledger_date, last_date) AS covers_to
    FROM groups AS g
), sales_per_date AS (
    -- The Sales gross per ledger and business date, so that each row's span adds up a few dates,
    -- not every Sales entry again.
    SELECT ledger_id, business_date,
           CAST(sum(CASE WHEN entry_type = 'refund' THEN -amount ELSE amount END) AS BIGINT) AS gross
    FROM stg_vipps_sales_settle
    WHERE psp_reference IS NOT NULL
    GROUP BY ledger_id, business_date
), rows AS (
    SELECT p.*,
           (SELECT CAST(coalesce(sum(s.gross), 0) AS BIGINT)
            FROM sales_per_date AS s
            WHERE s.ledger_id = p.ledger_id AND s.business_date BETWEEN p.covers_from AND p.covers_to) AS sales_gross
    FROM spans AS p
    WHERE CAST(p.covers_from AS DATE) <= $date_to AND (NOT p.has_payout OR p.covers_to >= $date_from)
)
SELECT r.ledger_id, r.currency, r.payout_psp_reference, r.payout_ledger_date, CAST(r.covers_from AS DATE) AS covers_from,
       r.covers_to, NOT r.has_payout AS is_open, r.opening_balance, r.captures, r.refunds, r.fees_retained,
       r.other_movements, r.other_types, r.payout_amount, r.closing_balance,
       r.opening_balance + r.captures + r.refunds + r.fees_retained + r.other_movements + r.payout_amount
           = r.closing_balance AS ties,
       r.sales_gross, r.sales_captures_settled, r.report_only_captures, r.entries
FROM rows AS r
ORDER BY r.ledger_id, r.grp
