-- Control: the settlement proof per ledger over the Settlement sheet's rows: the first opening
-- balance plus every movement must give the last closing balance, and every row must tie. A
-- ledger with Sales entries in the period but no funds entry landed is named: its money was not
-- followed to a payout (NOT_SETTLED and the settlement proof do not check it).
WITH ledgers AS (
    SELECT DISTINCT ledger_id FROM vipps_sales_entries WHERE business_date BETWEEN $date_from AND $date_to
    UNION SELECT DISTINCT ledger_id FROM settlement_summary
), per AS (
    SELECT ledger_id, min(currency) AS currency, count(*) FILTER (WHERE NOT is_open) AS payouts,
           count(*) FILTER (WHERE NOT ties) AS not_tying,
           arg_min(opening_balance, covers_from) AS opening,
           CAST(sum(captures + refunds + fees_retained + other_movements + payout_amount) AS BIGINT) AS movements,
           arg_max(closing_balance, covers_to) AS closing
    FROM settlement_summary GROUP BY ledger_id
)
SELECT l.ledger_id, p.currency, coalesce(p.payouts, 0) AS payouts, coalesce(p.not_tying, 0) AS not_tying,
       p.opening, p.movements, p.closing,
       p.opening IS NOT NULL AND p.opening + p.movements = p.closing AND p.not_tying = 0 AS ties,
       CASE WHEN NOT EXISTS (SELECT 1 FROM vipps_funds_entries AS f WHERE f.ledger_id = l.ledger_id)
            THEN 'no funds entry landed for this ledger: NOT_SETTLED and the settlement proof do not check it'
       END AS note
FROM ledgers AS l LEFT JOIN per AS p USING (ledger_id)
ORDER BY l.ledger_id
