-- The Quarantine sheet: every quarantined record in the lake (once each), with its reason and
-- raw JSON; the landing time shown in the ledger's zone ($tz), to the second.
SELECT source, kind, reason, record_id, context,
       date_trunc('second', timezone($tz, _landed_at)) AS landed_at, raw
FROM quarantine
ORDER BY source, kind, record_id NULLS LAST, reason, _hash
