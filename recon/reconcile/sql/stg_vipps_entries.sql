-- Vipps entries of the read window (the period widened by the matching window), one per natural
-- key and content: its first landed copy (the later copies are stg_vipps_entries_dropped.sql).
-- Filtering the raw files by business date first lets DuckDB skip every other partition, so the
-- cost follows the period, not the age of the lake. A view, not a table: each step reads only the
-- columns it needs from the Parquet files, so the window is never held in memory as a whole.
SELECT entry_key, ledger_id, entry_type, psp_reference, reference, currency, gross, net, vat, line_count,
       has_vat_breakdown, sales_category, time, business_date, _row_id,
       -- Matched against Entur only for the configured payment types (reconcile.vipps_payment_types);
       -- an entry without paymentType takes part. VAT checks and the VAT summary cover every entry.
       payment_type IS NULL OR list_contains($payment_types, upper(payment_type)) AS in_scope, payment_type
FROM raw_vipps_sales_entries AS e
ANTI JOIN stg_vipps_entries_dropped AS d ON d._row_id = e._row_id
WHERE e.business_date BETWEEN $date_from - $window AND $date_to + $window
  -- Entry types recon does not know landed (counted and warned about at pull) but take no part.
  AND e.entry_type IN ('capture', 'refund')
