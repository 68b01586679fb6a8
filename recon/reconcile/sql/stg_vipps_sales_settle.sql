-- Sales API captures and refunds of the settlement read window (the period widened by $span days
-- on both sides, like stg_vipps_funds.sql) of the ledgers with funds landed from there on, every payment
-- type, one per natural key and content, each with its gross (amounts.gross, else the sum of its
-- lines) by absolute value. Used to tell which funds entries mirror a Sales entry (same ledger,
-- entry type and pspReference: looked up well beyond the matching window, so a funds entry just
-- past midnight still finds its Sales entry) and for the Sales side of the settlement summary.
-- The matching window is staged already (stg_vipps_entries.sql); only the days beyond it are read
-- here, and nothing at all for a ledger without funds.
WITH ledgers AS (
    SELECT DISTINCT ledger_id FROM raw_vipps_funds_entries WHERE business_date >= $date_from - $span
), landed AS NOT MATERIALIZED (
    SELECT entry_key, ledger_id, entry_type, psp_reference, reference, currency, payment_type, gross,
           business_date, _row_id, _hash, _landed_at
    FROM raw_vipps_sales_entries SEMI JOIN ledgers USING (ledger_id)
    WHERE (business_date BETWEEN $date_from - $span AND $date_from - $window - 1
           OR business_date BETWEEN $date_to + $window + 1 AND $date_to + $span)
      AND entry_type IN ('capture', 'refund')
), repeated AS (
    -- Almost every entry lands once: only the ones landed again are ranked.
    SELECT entry_key, _hash FROM landed GROUP BY entry_key, _hash HAVING count(*) > 1
), beyond AS (
    SELECT * EXCLUDE (_hash, _landed_at) FROM landed
    ANTI JOIN repeated AS r
        ON r.entry_key IS NOT DISTINCT FROM landed.entry_key AND r._hash IS NOT DISTINCT FROM landed._hash
    UNION ALL
    SELECT * EXCLUDE (_hash, _landed_at) FROM landed
    SEMI JOIN repeated AS r
        ON r.entry_key IS NOT DISTINCT FROM landed.entry_key AND r._hash IS NOT DISTINCT FROM landed._hash
    QUALIFY row_number() OVER (PARTITION BY entry_key, _hash ORDER BY landing_seq(_landed_at, _row_id)) = 1
), entries AS (
    SELECT e.entry_key, e.ledger_id, e.entry_type, e.psp_reference, e.reference, e.currency, e.payment_type,
           e.gross, e.business_date, e._row_id
    FROM stg_vipps_entries AS e SEMI JOIN ledgers USING (ledger_id)
    UNION ALL
    SELECT * FROM beyond
), lines AS (
    -- Only the entries without amounts.gross need their lines.
    SELECT l._parent_row_id, CAST(sum(l.line_total_gross) AS BIGINT) AS line_gross
    FROM (SELECT _parent_row_id, line_total_gross FROM stg_vipps_lines
          UNION ALL
          SELECT _parent_row_id, line_total_gross FROM raw_vipps_sales_lines
          WHERE business_date BETWEEN $date_from - $span AND $date_from - $window - 1
             OR business_date BETWEEN $date_to + $window + 1 AND $date_to + $span) AS l
    SEMI JOIN entries AS e ON l._parent_row_id = e._row_id AND e.gross IS NULL
    GROUP BY l._parent_row_id
)
SELECT e.entry_key, e.ledger_id, e.entry_type, e.psp_reference, e.reference, e.currency, e.payment_type,
       abs(coalesce(e.gross, l.line_gross)) AS amount, e.business_date
FROM entries AS e LEFT JOIN lines AS l ON l._parent_row_id = e._row_id
