-- VAT per business date × currency × VAT rate × sales category, from the Vipps order lines of
-- the period. Entries without lines count under their sales category with VAT rate "unknown"
-- (never guessed), as do lines without a rate. Refunds are negative, so they net out.
-- Funds-only captures and refunds (Report API entries no Sales entry mirrors: ePayment; see
-- vipps_side.sql) have no VAT data from Vipps: their gross (refunds negative) is a row of its own per
-- date and currency, VAT rate 'not reported by Vipps', net and VAT NULL, vat_reported false, so that
-- the summary ties to all Vipps money. Every other row has vat_reported true.
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
       r.business_date >= $today - $lag AS provisional, true AS vat_reported
FROM rows AS r
GROUP BY ALL
UNION ALL
SELECT vipps_date AS business_date, currency, NULL::BIGINT AS vat_rate_bp, 'not reported by Vipps' AS vat_rate,
       false AS rate_known, '(none)' AS sales_category,
       CAST(sum(CASE WHEN kind = 'refund' THEN -amount ELSE amount END) AS BIGINT) AS gross,
       NULL::BIGINT AS net, NULL::BIGINT AS vat, count(*) AS lines, count(*) AS entries,
       vipps_date >= $today - $lag AS provisional, false AS vat_reported
FROM vipps_side
WHERE vipps_api = 'report' AND vipps_date BETWEEN $date_from AND $date_to
GROUP BY vipps_date, currency
ORDER BY business_date, currency, vat_rate_bp DESC NULLS LAST, vat_reported DESC, sales_category
