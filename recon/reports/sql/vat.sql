-- The VAT sheet: VAT per business date × currency × rate × sales category, as reconciled, with
-- the row's check (gross − net − VAT, and why a row does not tie; vat_summary.sql).
SELECT business_date, currency, vat_rate, rate_known, sales_category, gross, net, vat, lines, entries,
       provisional, check_difference, check_note
FROM vat_summary
ORDER BY business_date, currency, vat_rate_bp DESC NULLS LAST, sales_category
