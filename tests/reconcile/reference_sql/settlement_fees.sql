-- Fees per ledger and ledger date of the fees feed (settlement_fees), for the ledger dates of the
-- period: fees = the sum of the fees entries' amounts as sent (capture fees negative, credit notes
-- positive), fees-retained left out (it moves the fees balance to the funds, it is not a fee);
-- captures = the gross of the funds captures of that ledger date; effective_fee_rate_bp = −fees /
-- captures × 10 000 in basis points, rounded half away from zero (a cost is a positive rate; NULL
-- without captures). A fee's ledger date may differ from its capture's: the rate is per date.
WITH fees AS (
    SELECT ledger_id, ledger_date, min(currency) AS currency,
           CAST(coalesce(sum(amount) FILTER (WHERE entry_type <> 'fees-retained'), 0) AS BIGINT) AS fees,
           count(*) FILTER (WHERE entry_type <> 'fees-retained') AS fee_entries,
           CAST(coalesce(sum(amount) FILTER (WHERE entry_type = 'fees-retained'), 0) AS BIGINT) AS fees_retained
    FROM stg_vipps_fees
    WHERE ledger_date BETWEEN $date_from AND $date_to
    GROUP BY ledger_id, ledger_date
), captures AS (
    SELECT ledger_id, ledger_date, CAST(sum(amount) AS BIGINT) AS captures
    FROM stg_vipps_funds
    WHERE entry_type = 'capture' AND ledger_date BETWEEN $date_from AND $date_to
    GROUP BY ledger_id, ledger_date
)
SELECT f.ledger_id, f.currency, f.ledger_date, f.fees, f.fee_entries, f.fees_retained,
       CAST(coalesce(c.captures, 0) AS BIGINT) AS captures,
       CAST(CASE WHEN c.captures > 0
                 THEN sign(-f.fees) * ((2 * abs(f.fees) * 10000 + c.captures) // (2 * c.captures)) END AS BIGINT)
           AS effective_fee_rate_bp
FROM fees AS f LEFT JOIN captures AS c USING (ledger_id, ledger_date)
ORDER BY f.ledger_id, f.ledger_date
