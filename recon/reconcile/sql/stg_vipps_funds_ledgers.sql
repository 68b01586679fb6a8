-- The ledgers with funds landed from the settlement read window's start on (the Sales entries of
-- any other ledger are never compared with funds), each with the latest ledger date landed from its
-- funds feed (any entry type) at or after the period's start: an entry's business date is never
-- before its ledger date, and only ledger dates from the period's start on decide NOT_SETTLED
-- (settlement_check.sql); NULL when there are none. A few rows, read by several steps.
SELECT ledger_id, max(ledger_date) FILTER (WHERE business_date >= $date_from - 1) AS latest_ledger_date
FROM raw_vipps_funds_entries
WHERE business_date >= $date_from - $span
GROUP BY ledger_id
