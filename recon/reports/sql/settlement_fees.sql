-- Under the Settlement sheet: fees per ledger and ledger date from the fees feed, with the
-- effective fee rate (−fees ÷ the funds captures of that ledger date) as a ratio.
SELECT ledger_id, currency, ledger_date, fees, fee_entries, fees_retained, captures,
       CAST(effective_fee_rate_bp AS DECIMAL(18, 4)) / 10000 AS effective_fee_rate
FROM settlement_fees
ORDER BY ledger_id, ledger_date
