-- Control: Vipps Sales entries of the period left out of Vipps ↔ Entur matching because their
-- payment type is not in reconcile.vipps_payment_types ($payment_types): counted, never dropped.
SELECT coalesce(payment_type, '(none)') AS payment_type, entry_type, currency, count(*) AS entries,
       CAST(sum(gross) AS BIGINT) AS gross
FROM vipps_sales_entries
WHERE business_date BETWEEN $date_from AND $date_to
  AND payment_type IS NOT NULL AND NOT list_contains($payment_types, upper(payment_type))
GROUP BY ALL
ORDER BY 1, 2, 3
