-- Key 1: Vipps pspReference = Entur externalTransactionId, one to one (the n-th of each side).
-- Almost every pspReference is on one entry per side: those pair at once; only the references
-- repeated on either side are ranked (by time, then id) and paired by rank.
WITH v AS (
    SELECT kind, psp_reference AS ref, vipps_id, time FROM vipps_side WHERE psp_reference IS NOT NULL
), e AS (
    SELECT kind, external_transaction_id AS ref, entur_id, created_at FROM entur_side
    WHERE external_transaction_id IS NOT NULL
), repeated AS (
    SELECT kind, ref FROM v GROUP BY kind, ref HAVING count(*) > 1
    UNION
    SELECT kind, ref FROM e GROUP BY kind, ref HAVING count(*) > 1
), ranked_v AS (
    SELECT v.*, row_number() OVER (PARTITION BY kind, ref ORDER BY time, vipps_id) AS n
    FROM v SEMI JOIN repeated AS r USING (kind, ref)
), ranked_e AS (
    SELECT e.*, row_number() OVER (PARTITION BY kind, ref ORDER BY created_at, entur_id) AS n
    FROM e SEMI JOIN repeated AS r USING (kind, ref)
)
SELECT v.kind, v.vipps_id, e.entur_id
FROM v JOIN e USING (kind, ref) ANTI JOIN repeated AS r USING (kind, ref)
UNION ALL
SELECT v.kind, v.vipps_id, e.entur_id
FROM ranked_v AS v JOIN ranked_e AS e USING (kind, ref, n)
