-- The Report API funds captures and refunds of the settlement read window that mirror no Sales API
-- entry of any payment type (same ledger, entry type and pspReference, looked up in the Sales
-- entries of the settlement read window: stg_vipps_sales_keys.sql): the Vipps products the Sales
-- API does not cover (ePayment). Few rows: the one join of the funds with the Sales entries that
-- both the settlement summary (its report-only captures) and the Vipps side (its funds-only
-- entries) read, so neither builds a hash table of every Sales entry.
SELECT f.entry_key, f.ledger_id, f.entry_type, f.psp_reference, f.reference, f.currency, f.amount, f.time,
       f.business_date
FROM stg_vipps_funds AS f
ANTI JOIN stg_vipps_sales_keys AS s
    ON s.ledger_id = f.ledger_id AND s.entry_type = f.entry_type AND s.psp_reference = f.psp_reference
WHERE f.entry_type IN ('capture', 'refund')
