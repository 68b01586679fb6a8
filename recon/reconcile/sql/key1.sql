-- Key 1: Vipps pspReference = Entur externalTransactionId, one to one (the n-th of each side).
-- Almost every pspReference is on one entry per side: those pair at once; only the references
-- repeated on either side are ranked (by time, then id) and paired by rank.
-- Each pair carries both sides' columns that matches.sql shows, so that it need not look the pair's
-- entries up again, and each side's row (its rowid in vipps_side, entur_side): the later steps join
-- on those integers, not on the ids' text.
WITH v AS NOT MATERIALIZED (
    SELECT kind, psp_reference AS ref, rowid AS vipps_row, vipps_id, time, order_key, ledger_id, reference,
           psp_reference,
           amount AS vipps_amount, currency AS vipps_currency, vipps_date, vipps_api
    FROM vipps_side WHERE psp_reference IS NOT NULL
), e AS NOT MATERIALIZED (
    SELECT kind, external_transaction_id AS ref, rowid AS entur_row,
           entur_id(kind, payment_id, credit_id, transaction_id) AS entur_id, created_at, order_id, payment_id, credit_id,
           transaction_id AS entur_transaction_id, amount AS entur_amount, currency AS entur_currency, entur_date
    FROM entur_side
    WHERE external_transaction_id IS NOT NULL
), repeated AS (
    -- The references on more than one entry of a side. Their hashes are grouped first, so that only
    -- the few rows sharing a hash are grouped by their text (a hash two references share only
    -- brings both into that grouping).
    SELECT kind, ref FROM v
    SEMI JOIN (SELECT hash(kind, ref) AS h FROM v GROUP BY h HAVING count(*) > 1) AS c ON hash(v.kind, v.ref) = c.h
    GROUP BY kind, ref HAVING count(*) > 1
    UNION
    SELECT kind, ref FROM e
    SEMI JOIN (SELECT hash(kind, ref) AS h FROM e GROUP BY h HAVING count(*) > 1) AS c ON hash(e.kind, e.ref) = c.h
    GROUP BY kind, ref HAVING count(*) > 1
), ranked_v AS (
    SELECT v.*, row_number() OVER (PARTITION BY kind, ref ORDER BY time, vipps_id) AS n
    FROM v SEMI JOIN repeated AS r USING (kind, ref)
), ranked_e AS (
    SELECT e.*, row_number() OVER (PARTITION BY kind, ref ORDER BY created_at, entur_id) AS n
    FROM e SEMI JOIN repeated AS r USING (kind, ref)
)
SELECT v.kind, v.vipps_row, e.entur_row, v.order_key, v.ledger_id, v.reference, v.psp_reference, e.order_id,
       e.payment_id, e.credit_id, e.entur_transaction_id, v.vipps_amount, e.entur_amount, v.vipps_currency,
       e.entur_currency, v.vipps_date, e.entur_date, v.vipps_api
FROM v JOIN e USING (kind, ref) ANTI JOIN repeated AS r USING (kind, ref)
UNION ALL
SELECT v.kind, v.vipps_row, e.entur_row, v.order_key, v.ledger_id, v.reference, v.psp_reference, e.order_id,
       e.payment_id, e.credit_id, e.entur_transaction_id, v.vipps_amount, e.entur_amount, v.vipps_currency,
       e.entur_currency, v.vipps_date, e.entur_date, v.vipps_api
FROM ranked_v AS v JOIN ranked_e AS e USING (kind, ref, n)
