-- Report API fees entries (capture-fee, fees-retained, fees-invoiced, credit-note, ... : an open
-- set) of the settlement read window, as stg_vipps_funds.sql reads the funds entries: the period
-- widened by $span days on both sides, one row per entry_key (its first landed copy), with the
-- highest feed_seq and date_seq of its copies. A fee's pspReference repeats its capture's and its
-- ledger date may differ from the capture's.
SELECT 'fees' AS feed, entry_key, ledger_id, entry_type, psp_reference, reference, time, ledger_date, currency,
       amount, balance_before, balance_after, recipient_handle,
       max(feed_seq) OVER copies AS feed_seq, max(date_seq) OVER copies AS date_seq, business_date, _row_id
FROM raw_vipps_fees_entries
WHERE business_date BETWEEN $date_from - $span AND $date_to + $span
WINDOW copies AS (PARTITION BY entry_key ORDER BY landing_seq(_landed_at, _row_id)
                  ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
QUALIFY row_number() OVER copies = 1
