-- The (ledger, entry type, pspReference) of every Sales API capture and refund of the settlement
-- read window (the period widened by $span days on both sides, like stg_vipps_sales_settle.sql):
-- what tells whether a funds entry mirrors a Sales entry. Only looked up (EXISTS, anti joins), so a
-- re-landed copy, which carries the same key, changes nothing, and no amount (nor line) is read.
-- A view over the Parquet files.
SELECT ledger_id, entry_type, psp_reference
FROM raw_vipps_sales_entries
WHERE business_date BETWEEN $date_from - $span AND $date_to + $span AND entry_type IN ('capture', 'refund')
  AND psp_reference IS NOT NULL
