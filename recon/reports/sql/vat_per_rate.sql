-- Totals under the VAT sheet (and the data of its chart): every date of the period per
-- currency × VAT rate, with Σ (gross − net − VAT); "unknown" (no rate or no VAT on the line) last.
SELECT currency, vat_rate, CAST(sum(gross) AS BIGINT) AS gross, CAST(sum(net) AS BIGINT) AS net,
       CAST(sum(vat) AS BIGINT) AS vat, CAST(sum(lines) AS BIGINT) AS lines,
       CAST(sum(check_difference) AS BIGINT) AS check_difference
FROM vat_summary
GROUP BY currency, vat_rate_bp, vat_rate
ORDER BY currency, vat_rate_bp DESC NULLS LAST, vat_rate
