-- VAT_MISMATCH (its rows are written by mismatches.sql) per Vipps entry of the period, naming its
-- first faulty line: a line with VAT (rate, vatAmount and gross present) whose vatAmount differs
-- from the exact lineTotalGross × r / (1 + r) (r = vatRate / 10 000) by more than the per-line
-- tolerance, compared in integers; or whose lineTotalNet + vatAmount differs from lineTotalGross
-- by more than that tolerance (a line without a net is not checked for it); or, where the entry
-- has a VAT breakdown and every line has VAT, Σ lines.vatAmount ≠ amounts.vat. Missing rate or
-- VAT is not a mismatch (it is VAT "unknown" in the VAT summary).
-- Columns for the Mismatches sheet: the line's ID, gross, net, stated VAT and the VAT expected
-- (the exact VAT rounded half away from zero; for the Σ check, Σ lines.vatAmount), and the
-- difference: stated − expected VAT, or for a line whose VAT is right but whose net is not,
-- (net + VAT) − gross.
WITH lines AS NOT MATERIALIZED (
    SELECT l.*,
           vat_rate_bp IS NOT NULL AND vat_amount IS NOT NULL AND line_total_gross IS NOT NULL AS has_vat,
           abs(vat_amount * (10000 + vat_rate_bp) - line_total_gross * vat_rate_bp)
               > $vat_tolerance * (10000 + vat_rate_bp) AS rate_faulty,
           abs(line_total_net + vat_amount - line_total_gross) > $vat_tolerance AS net_faulty,
           sign(line_total_gross) * ((2 * abs(line_total_gross) * vat_rate_bp + 10000 + vat_rate_bp)
                                     // (2 * (10000 + vat_rate_bp))) AS exact_vat
    -- The lines of the period (a line shares its entry's business date); those of an entry that is
    -- not staged (a later copy, or a line a crashed run left without its entry) find no entry below.
    FROM raw_vipps_sales_lines AS l
    WHERE l.business_date BETWEEN $date_from AND $date_to
), per_entry AS (
    SELECT _parent_row_id,
           min(line_no) FILTER (WHERE has_vat AND (rate_faulty OR coalesce(net_faulty, false))) AS first_bad_line,
           bool_and(has_vat) AS all_have_vat,
           CAST(sum(vat_amount) AS BIGINT) AS lines_vat
    FROM lines GROUP BY _parent_row_id
), failing AS (
    -- The entries that fail, with their figures; only their first faulty line is looked up below
    -- (a second read of the period's lines, kept to those few: cheaper than holding them all).
    SELECT e.entry_key, e.ledger_id, e.reference, e.psp_reference, e.entry_type, e.currency, e.business_date,
           e.gross, e.vat, e._row_id, p.lines_vat, p.first_bad_line
    FROM stg_vipps_entries AS e
    JOIN per_entry AS p ON p._parent_row_id = e._row_id
    WHERE e.business_date BETWEEN $date_from AND $date_to
      AND (p.first_bad_line IS NOT NULL
           OR (e.has_vat_breakdown AND p.all_have_vat AND e.vat IS NOT NULL AND p.lines_vat <> e.vat))
), bad_lines AS (
    SELECT l.* FROM lines AS l
    SEMI JOIN failing AS f ON f._row_id = l._parent_row_id AND f.first_bad_line = l.line_no
)
SELECT e.entry_key, e.ledger_id, e.reference, e.psp_reference, e.entry_type, e.currency,
       e.business_date, e.gross AS entry_gross, e.vat AS entry_vat, e.lines_vat, l.line_id, l.line_no,
       l.line_total_gross, l.line_total_net, l.vat_rate_bp, l.vat_amount,
       CASE WHEN l.line_no IS NOT NULL THEN l.vat_amount ELSE e.vat END AS stated_vat,
       CASE WHEN l.line_no IS NOT NULL THEN CAST(l.exact_vat AS BIGINT) ELSE e.lines_vat END AS expected_vat,
       CASE WHEN l.line_no IS NULL THEN e.vat - e.lines_vat
            WHEN l.rate_faulty THEN l.vat_amount - CAST(l.exact_vat AS BIGINT)
            ELSE l.line_total_net + l.vat_amount - l.line_total_gross
       END AS difference,
       CASE WHEN l.line_no IS NOT NULL
            THEN 'line ' || coalesce(l.line_id, CAST(l.line_no AS VARCHAR)) || ' has VAT '
                 || money(l.vat_amount, e.currency) || ' at ' || rate_text(l.vat_rate_bp)
                 || ' of ' || money(l.line_total_gross, e.currency)
                 || (CASE WHEN l.rate_faulty THEN '; the exact VAT rounds to ' || money(l.exact_vat, e.currency)
                          ELSE '' END)
                 || (CASE WHEN coalesce(l.net_faulty, false)
                          THEN (CASE WHEN l.rate_faulty THEN '; and ' ELSE '; ' END) || 'its net '
                               || money(l.line_total_net, e.currency) || ' + VAT makes '
                               || money(l.line_total_net + l.vat_amount, e.currency) || ', not the gross'
                          ELSE '' END)
            ELSE 'the lines'' VAT adds up to ' || money(e.lines_vat, e.currency)
                 || ' but the entry''s amounts.vat is ' || money(e.vat, e.currency)
       END AS explanation
FROM failing AS e
LEFT JOIN bad_lines AS l ON l._parent_row_id = e._row_id AND l.line_no = e.first_bad_line
