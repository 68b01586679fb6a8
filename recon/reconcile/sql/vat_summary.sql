-- VAT per business date × currency × VAT rate × sales category, from the Vipps order lines of
-- the period. Entries without lines count under their sales category with VAT rate "unknown"
-- (never guessed), as do lines without a rate or without a VAT amount (a rate with no VAT says
-- nothing about the VAT). Refunds are negative, so they net out.
-- Funds-only captures and refunds (Report API entries no Sales entry mirrors: ePayment;
-- stg_vipps_funds_unsold.sql) have no VAT data from Vipps: their gross (refunds negative) is a row
-- of its own per date and currency, VAT rate 'not reported by Vipps', net and VAT NULL,
-- vat_reported false, so that the summary ties to all Vipps money. Every other row has
-- vat_reported true.
-- The check: check_difference = gross − net − VAT (a missing net or VAT counts as 0, as in the
-- sheet's own cells), and check_note says why a row does not tie: lines whose net + VAT ≠ gross
-- beyond vat_line_tolerance (VAT_MISMATCH, vat_check.sql), within it, or without a net; on a rate
-- "unknown" row, how many entries it holds (the VAT sheet lists them with their IDs).
WITH lines AS (
    SELECT e.business_date, e.currency,
           CASE WHEN l.vat_amount IS NOT NULL THEN l.vat_rate_bp END AS vat_rate_bp,
           coalesce(l.category, e.sales_category, '(none)') AS sales_category,
           l.line_total_gross AS gross, l.line_total_net AS net, l.vat_amount AS vat, e.entry_key
    FROM stg_vipps_entries AS e
    -- A line shares its entry's business date; one whose entry is not staged joins none.
    JOIN raw_vipps_sales_lines AS l ON l._parent_row_id = e._row_id AND l.business_date BETWEEN $date_from AND $date_to
    WHERE e.business_date BETWEEN $date_from AND $date_to
), bare AS (
    SELECT business_date, currency, NULL::BIGINT AS vat_rate_bp, coalesce(sales_category, '(none)'),
           gross, net, vat, entry_key
    FROM stg_vipps_entries
    WHERE line_count = 0 AND business_date BETWEEN $date_from AND $date_to
), rows AS (
    SELECT *, net + vat - gross AS off FROM lines UNION ALL SELECT *, net + vat - gross FROM bare
), grouped AS (
    SELECT r.business_date, r.currency, r.vat_rate_bp, r.sales_category,
           CAST(sum(r.gross) AS BIGINT) AS gross, CAST(sum(r.net) AS BIGINT) AS net,
           CAST(sum(r.vat) AS BIGINT) AS vat, count(*) AS lines, count(DISTINCT r.entry_key) AS entries,
           count(*) FILTER (WHERE abs(r.off) > $vat_tolerance) AS over_tolerance,
           count(*) FILTER (WHERE r.off <> 0 AND abs(r.off) <= $vat_tolerance) AS within_tolerance,
           count(*) FILTER (WHERE r.net IS NULL OR r.vat IS NULL) AS incomplete
    FROM rows AS r
    GROUP BY ALL
)
SELECT g.business_date, g.currency, g.vat_rate_bp,
       rate_text(g.vat_rate_bp) AS vat_rate,
       EXISTS (SELECT 1 FROM vat_rates AS k WHERE k.currency = g.currency AND k.rate_bp = g.vat_rate_bp)
           AS rate_known,
       g.sales_category, g.gross, g.net, g.vat, g.lines, g.entries,
       g.business_date >= $today - $lag AS provisional, true AS vat_reported,
       CAST(g.gross - coalesce(g.net, 0) - coalesce(g.vat, 0) AS BIGINT) AS check_difference,
       CASE WHEN g.vat_rate_bp IS NULL
            THEN 'VAT unknown: ' || g.entries || (CASE WHEN g.entries = 1 THEN ' entry' ELSE ' entries' END)
                 || ', listed below the table'
                 || (CASE WHEN g.incomplete > 0 THEN ' (' || g.incomplete || ' without net or VAT)' ELSE '' END)
            WHEN g.over_tolerance + g.within_tolerance + g.incomplete = 0 THEN 'ties'
            ELSE concat_ws('; ',
                 CASE WHEN g.over_tolerance > 0 THEN g.over_tolerance || ' line(s) with net + VAT ≠ gross: '
                                                     || 'VAT_MISMATCH on the Mismatches sheet' END,
                 CASE WHEN g.within_tolerance > 0 THEN g.within_tolerance || ' line(s) with net + VAT off the gross '
                                                       || 'by at most vat_line_tolerance' END,
                 CASE WHEN g.incomplete > 0 THEN g.incomplete || ' line(s) without a net' END)
       END AS check_note
FROM grouped AS g
UNION ALL
SELECT business_date, currency, NULL::BIGINT AS vat_rate_bp, 'not reported by Vipps' AS vat_rate,
       false AS rate_known, '(none)' AS sales_category,
       CAST(sum(CASE WHEN entry_type = 'refund' THEN -abs(amount) ELSE abs(amount) END) AS BIGINT) AS gross,
       NULL::BIGINT AS net, NULL::BIGINT AS vat, count(*) AS lines, count(*) AS entries,
       business_date >= $today - $lag AS provisional, false AS vat_reported, NULL::BIGINT AS check_difference,
       'VAT not reported by Vipps: Report API funds entries with no Sales API entry (ePayment)' AS check_note
FROM stg_vipps_funds_unsold
WHERE business_date BETWEEN $date_from AND $date_to
GROUP BY business_date, currency
ORDER BY business_date, currency, vat_rate_bp DESC NULLS LAST, vat_reported DESC, sales_category
