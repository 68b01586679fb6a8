-- Key 1: Vipps pspReference = Entur externalTransactionId, one to one (the n-th of each side).
WITH v AS (
    SELECT *, row_number() OVER (PARTITION BY kind, psp_reference ORDER BY time, vipps_id) AS n
    FROM vipps_side WHERE psp_reference IS NOT NULL
), e AS (
    SELECT *, row_number() OVER (PARTITION BY kind, external_transaction_id ORDER BY created_at, entur_id) AS n
    FROM entur_side WHERE external_transaction_id IS NOT NULL
)
SELECT v.kind, v.vipps_id, e.entur_id
FROM v JOIN e ON v.kind = e.kind AND v.psp_reference = e.external_transaction_id AND v.n = e.n
