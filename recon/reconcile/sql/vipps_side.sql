-- The Vipps side of Vipps ↔ Entur, of the read window: the Sales API ∪ the Report API.
-- (a) Sales API captures and refunds whose payment type is in scope (mPOS card and cash sales have
--     no Vipps-paid counterpart in Entur; the Control sheet counts them).
-- (b) Report API funds entries of type capture or refund whose (ledger, entry type, pspReference)
--     is no Sales API entry of any payment type: the Vipps products the Sales API does not cover
--     (ePayment: stg_vipps_funds_unsold.sql). A funds entry mirroring an out-of-scope Sales
--     entry is out of scope too. Its business date is that of its `time` in the ledger's zone,
--     like a Sales entry's.
-- `vipps_api` says which API a row came from ('sales' | 'report'). Amounts are compared by absolute
-- value: refunds land negative, credits are positive. A Sales entry without amounts counts its lines
-- (which share its business date).
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
    e.time,
    'sales' AS vipps_api
FROM stg_vipps_entries AS e
LEFT JOIN (-- Only the entries without amounts.gross need their lines.
           SELECT l._parent_row_id, CAST(sum(l.line_total_gross) AS BIGINT) AS line_gross
           FROM raw_vipps_sales_lines AS l
           SEMI JOIN stg_vipps_entries AS g ON g._row_id = l._parent_row_id AND g.gross IS NULL
           WHERE l.business_date BETWEEN $date_from - $window AND $date_to + $window
           GROUP BY ALL) AS l
    ON l._parent_row_id = e._row_id
WHERE e.in_scope
UNION ALL
SELECT f.entry_type, 'funds:' || f.entry_key, f.ledger_id, f.psp_reference, f.reference,
       strip_ref(f.reference, $prefix, $suffix), abs(f.amount), f.currency, f.business_date, f.time, 'report'
FROM stg_vipps_funds_unsold AS f
WHERE f.business_date BETWEEN $date_from - $window AND $date_to + $window
