-- Vipps captures and refunds of the read window whose payment type is in scope (mPOS card and cash
-- sales have no Vipps-paid counterpart in Entur; the Control sheet counts them). Amounts are compared by absolute value:
-- refunds land negative, credits are positive. An entry without amounts counts its lines.
SELECT
    e.entry_type AS kind,
    e.entry_key AS vipps_id,
    e.ledger_id,
    e.psp_reference,
    e.reference,
    strip_ref(e.reference, $prefix, $suffix) AS order_key,
    abs(coalesce(e.gross, l.line_gross)) AS amount,
    e.currency,
    e.business_date AS vipps_date,
    e.time
FROM stg_vipps_entries AS e
LEFT JOIN (SELECT _parent_row_id, CAST(sum(line_total_gross) AS BIGINT) AS line_gross
           FROM stg_vipps_lines GROUP BY ALL) AS l
    ON l._parent_row_id = e._row_id
WHERE e.in_scope
