-- The Settlement sheet: per ledger and payout (and the open period after the last payout), the
-- settlement proof of recon/reconcile/sql/settlement_summary.sql, with the ledger's payout
-- account masked (only its last four digits are shown: the workbook travels by e-mail).
WITH accounts AS (
    SELECT ledger_id, arg_max(payout_account_id, listed_date) AS account
    FROM vipps_ledgers GROUP BY ledger_id
)
SELECT s.ledger_id,
       CASE WHEN a.account IS NULL THEN NULL
            WHEN length(a.account) <= 4 THEN repeat('*', length(a.account))
            ELSE repeat('*', length(a.account) - 4) || right(a.account, 4) END AS payout_account,
       s.currency, s.payout_psp_reference, s.payout_ledger_date, s.covers_from, s.covers_to, s.is_open,
       s.opening_balance, s.captures, s.refunds, s.fees_retained, s.other_movements, s.other_types,
       s.payout_amount, s.closing_balance, s.ties, s.sales_gross, s.sales_captures_settled,
       s.report_only_captures, s.entries
FROM settlement_summary AS s LEFT JOIN accounts AS a USING (ledger_id)
ORDER BY s.ledger_id, s.covers_from, s.is_open
