-- Report API fees entries (capture-fee, fees-retained, fees-invoiced, credit-note, ... : an open
-- set) of the settlement read window, as stg_vipps_funds.sql reads the funds entries: one row per
-- entry_key, a view over the Parquet files and the few entries landed more than once
-- (stg_vipps_report_copies.sql). A fee's pspReference repeats its capture's and its ledger date may
-- differ from the capture's.
SELECT 'fees' AS feed, entry_key, ledger_id, entry_type, psp_reference, reference, time, ledger_date, currency,
       amount, balance_before, balance_after, feed_seq, date_seq, business_date
FROM raw_vipps_fees_entries AS f
ANTI JOIN stg_vipps_fees_copies AS c ON c.entry_key IS NOT DISTINCT FROM f.entry_key
WHERE f.business_date BETWEEN $date_from - $span AND $date_to + $span
UNION ALL
SELECT * FROM stg_vipps_fees_copies
