-- VAT per business date × currency × VAT rate × sales category, from the Vipps order lines of
-- the period. Entries without lines count under their sales category with VAT rate "unknown"
-- (never guessed), as do lines without a rate. Refunds are negative, so they net out.
WITH lines AS (
    SELECT e.business_date, e.currency, l.vat_rate_bp,
           coalesce(l.category, e.sales_category, '(none)') AS sales_category,
           l.line_total_gross AS gross, l.line_total_net AS net, l.vat_amount AS vat, e.entry_key
    FROM stg_vipps_entries AS e
    JOIN stg_vipps_lines AS l ON l._parent_row_id = e._row_id
    WHERE e.business_date BETWEEN $date_from AND $date_to
), bare AS (
    SELECT business_date, currency, NULL::BIGINT AS vat_rate_bp, coalesce(sales_category, '(none)'),
           gross, net, vat, entry_key
    FROM stg_vipps_entries
    WHERE line_count = 0 AND business_date BETWEEN $date_from AND $date_to
), rows AS (
    SELECT * FROM lines UNION ALL SELECT * FROM bare
)
SELECT r.business_date, r.currency, r.vat_rate_bp,
       rate_text(r.vat_rate_bp) AS vat_rate,
       EXISTS (SELECT 1 FROM vat_rates AS k WHERE k.currency = r.currency AND k.rate_bp = r.vat_rate_bp)
           AS rate_known,
       r.sales_category,
       CAST(sum(r.gross) AS BIGINT) AS gross, CAST(sum(r.net) AS BIGINT) AS net,
       CAST(sum(r.vat) AS BIGINT) AS vat,
       count(*) AS lines, count(DISTINCT r.entry_key) AS entries,
       r.business_date >= $today - $lag AS provisional
FROM rows AS r
GROUP BY ALL
ORDER BY r.business_date, r.currency, r.vat_rate_bp DESC NULLS LAST, r.sales_category
