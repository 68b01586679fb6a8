-- Sales API captures and refunds of the settlement read window (the period widened by $span days
-- on both sides, like stg_vipps_funds.sql) of the ledgers with funds landed from there on, every payment
-- type, one per natural key and content, each with its gross (amounts.gross, else the sum of its
-- lines) by absolute value: the Sales entries NOT_SETTLED and SETTLEMENT_AMOUNT_MISMATCH check
-- (settlement_check.sql) and the Sales side of the settlement summary. (Which funds entries mirror
-- a Sales entry needs only its keys: stg_vipps_sales_keys.sql.)
-- Nothing is read for a ledger without funds (stg_vipps_funds_ledgers.sql). A view over the Parquet
-- files (the later copies of re-landed entries are stg_vipps_entries_dropped.sql): a step that does
-- not read `amount` does not read the lines either.
WITH entries AS NOT MATERIALIZED (
    SELECT e.entry_key, e.ledger_id, e.entry_type, e.psp_reference, e.reference, e.currency, e.payment_type,
           e.gross, e.business_date, e._row_id
    FROM raw_vipps_sales_entries AS e
    SEMI JOIN stg_vipps_funds_ledgers USING (ledger_id)
    ANTI JOIN stg_vipps_entries_dropped AS d ON d._row_id = e._row_id
    WHERE e.business_date BETWEEN $date_from - $span AND $date_to + $span AND e.entry_type IN ('capture', 'refund')
), lines AS (
    -- Only the entries without amounts.gross need their lines (which share their business date).
    SELECT l._parent_row_id, CAST(sum(l.line_total_gross) AS BIGINT) AS line_gross
    FROM raw_vipps_sales_lines AS l
    SEMI JOIN entries AS e ON l._parent_row_id = e._row_id AND e.gross IS NULL
    WHERE l.business_date BETWEEN $date_from - $span AND $date_to + $span
    GROUP BY l._parent_row_id
)
SELECT e.entry_key, e.ledger_id, e.entry_type, e.psp_reference, e.reference, e.currency, e.payment_type,
       abs(coalesce(e.gross, l.line_gross)) AS amount, e.business_date
FROM entries AS e LEFT JOIN lines AS l ON l._parent_row_id = e._row_id
