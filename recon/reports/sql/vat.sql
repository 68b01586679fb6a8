-- The VAT sheet: VAT per business date × currency × rate × sales category, as reconciled.
SELECT business_date, currency, vat_rate, rate_known, sales_category, gross, net, vat, lines, entries,
       provisional
FROM vat_summary
ORDER BY business_date, currency, vat_rate_bp DESC NULLS LAST, sales_category
