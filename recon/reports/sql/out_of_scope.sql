-- Control: Vipps entries of the period left out of Vipps ↔ Entur matching because their payment
-- type is not in reconcile.vipps_payment_types ($payment_types): counted, never dropped. Sales API
-- entries per payment type; then the Report API's funds entries that mirror one of them (same
-- ledger, entry type and pspReference), which are out of scope with it.
WITH out_of_scope AS (
    SELECT ledger_id, entry_type, psp_reference, payment_type, currency, gross
    FROM vipps_sales_entries
    WHERE business_date BETWEEN $date_from AND $date_to
      AND payment_type IS NOT NULL AND NOT list_contains($payment_types, upper(payment_type))
)
SELECT payment_type, entry_type, currency, count(*) AS entries, CAST(sum(gross) AS BIGINT) AS gross
FROM out_of_scope
GROUP BY ALL
UNION ALL
SELECT o.payment_type || ' (funds entry)', f.entry_type, f.currency, count(*), CAST(sum(f.amount) AS BIGINT)
FROM vipps_funds_entries AS f
JOIN (SELECT DISTINCT ledger_id, entry_type, psp_reference, payment_type FROM out_of_scope) AS o
    ON o.ledger_id = f.ledger_id AND o.entry_type = f.entry_type AND o.psp_reference = f.psp_reference
GROUP BY ALL
ORDER BY 1, 2, 3
