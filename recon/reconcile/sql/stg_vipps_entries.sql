-- Vipps entries of the read window (the period widened by the matching window), one per natural
-- key and content (its first landed copy). Filtering the raw files by business date first lets
-- DuckDB skip every other partition, so the cost follows the period, not the age of the lake.
-- Almost every entry lands once: those pass as they are, only the ones landed again are ranked.
WITH entries AS NOT MATERIALIZED (
    SELECT * FROM raw_vipps_sales_entries
    WHERE business_date BETWEEN $date_from - $window AND $date_to + $window
      -- Entry types recon does not know landed (counted and warned about at pull) but take no part.
      AND entry_type IN ('capture', 'refund')
), repeated AS (
    SELECT entry_key, _hash FROM entries GROUP BY entry_key, _hash HAVING count(*) > 1
), firsts AS (
    SELECT * FROM entries
    ANTI JOIN repeated AS r
        ON r.entry_key IS NOT DISTINCT FROM entries.entry_key AND r._hash IS NOT DISTINCT FROM entries._hash
    UNION ALL
    SELECT * FROM entries
    SEMI JOIN repeated AS r
        ON r.entry_key IS NOT DISTINCT FROM entries.entry_key AND r._hash IS NOT DISTINCT FROM entries._hash
    QUALIFY row_number() OVER (PARTITION BY entry_key, _hash ORDER BY landing_seq(_landed_at, _row_id)) = 1
)
SELECT entry_key, ledger_id, entry_type, psp_reference, reference, currency, gross, net, vat, line_count,
       has_vat_breakdown, sales_category, time, business_date, _row_id,
       -- Matched against Entur only for the configured payment types (reconcile.vipps_payment_types);
       -- an entry without paymentType takes part. VAT checks and the VAT summary cover every entry.
       payment_type IS NULL OR list_contains($payment_types, upper(payment_type)) AS in_scope, payment_type
FROM firsts
