-- Under the VAT sheet: every Vipps capture and refund of the period counted under VAT rate
-- "unknown" in vat_summary (recon/reconcile/sql/vat_summary.sql), with its IDs: one row per entry
-- without order lines (its amounts), and one per line without a rate or without a VAT amount.
-- The Gross here adds up to the "unknown" rows' Gross per date, currency and category (tested).
WITH entries AS (
    SELECT * FROM vipps_sales_entries
    WHERE business_date BETWEEN $date_from AND $date_to AND entry_type IN ('capture', 'refund')
), rows AS (
    SELECT e.business_date, e.currency, NULL::BIGINT AS rate_bp, e.ledger_id,
           coalesce(e.sales_category, '(none)') AS sales_category, e.gross, e.net, e.vat, e.psp_reference,
           e.reference, NULL AS line_id, NULL::BIGINT AS line_no,
           'no order lines: the entry''s amounts only, so no rate'
           || (CASE WHEN e.net IS NULL OR e.vat IS NULL THEN '; Vipps sent no net or VAT' ELSE '' END) AS why
    FROM entries AS e
    WHERE e.line_count = 0
    UNION ALL
    SELECT e.business_date, e.currency, l.vat_rate_bp, e.ledger_id,
           coalesce(l.category, e.sales_category, '(none)'), l.line_total_gross, l.line_total_net, l.vat_amount,
           e.psp_reference, e.reference, l.line_id, l.line_no,
           concat_ws('; ', CASE WHEN l.vat_rate_bp IS NULL THEN 'the line has no VAT rate' END,
                     CASE WHEN l.vat_amount IS NULL THEN 'the line has no VAT amount' END,
                     CASE WHEN l.line_total_net IS NULL THEN 'no net' END)
    FROM entries AS e JOIN vipps_sales_lines AS l ON l._parent_row_id = e._row_id
    WHERE l.vat_rate_bp IS NULL OR l.vat_amount IS NULL
)
SELECT business_date, currency,
       CASE WHEN rate_bp IS NULL THEN NULL
            ELSE CAST(rate_bp // 100 AS VARCHAR)
                 || CASE WHEN rate_bp % 100 = 0 THEN '' ELSE '.' || rtrim(lpad(CAST(rate_bp % 100 AS VARCHAR), 2, '0'), '0') END
                 || ' %' END AS stated_rate,
       ledger_id, sales_category, gross, net, vat, psp_reference, reference, line_id,
       CAST(gross - coalesce(net, 0) - coalesce(vat, 0) AS BIGINT) AS check_difference, why
FROM rows
ORDER BY business_date, currency, sales_category, psp_reference NULLS LAST, reference, line_no NULLS FIRST
