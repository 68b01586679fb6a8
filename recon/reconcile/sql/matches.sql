-- Every matched unit (a key 1 pair, or a key 2 order group) with both sides' ids, amounts,
-- currencies and business dates, and its outcome: MATCHED, or the one mismatch code it earns:
-- CURRENCY_MISMATCH, AMOUNT_MISMATCH or TIMING_DIFFERENCE (in this order; see `outcome`).
-- `vipps_api` (last column) is the API of the Vipps side: 'sales' or 'report' (a key 2 group
-- drawing on both lists both, 'report,sales').
WITH pairs AS (
    -- key1.sql carries both sides' columns of each pair.
    SELECT kind, 1 AS match_key, order_key, ledger_id, reference, psp_reference, order_id,
           payment_id, credit_id, entur_transaction_id, vipps_amount, entur_amount,
           vipps_currency, entur_currency, vipps_date, entur_date, vipps_api
    FROM key1
), groups_v AS (
    SELECT k.kind, k.order_key,
           min(v.ledger_id) AS ledger_id, min(v.reference) AS reference,
           string_agg(v.psp_reference, ',' ORDER BY v.time, v.vipps_id) AS psp_reference,
           CAST(sum(v.amount) AS BIGINT) AS vipps_amount,
           string_agg(DISTINCT v.currency, ',' ORDER BY v.currency) AS vipps_currency,
           min(v.vipps_date) AS vipps_date,
           string_agg(DISTINCT v.vipps_api, ',' ORDER BY v.vipps_api) AS vipps_api
    FROM key2 AS k JOIN vipps_side AS v USING (vipps_id)
    GROUP BY k.kind, k.order_key
), groups_e AS (
    SELECT k.kind, k.order_key, min(e.order_id) AS order_id,
           string_agg(e.payment_id, ',' ORDER BY e.created_at, e.entur_id) AS payment_id,
           string_agg(e.credit_id, ',' ORDER BY e.created_at, e.entur_id) AS credit_id,
           string_agg(e.transaction_id, ',' ORDER BY e.created_at, e.entur_id) AS entur_transaction_id,
           CAST(sum(e.amount) AS BIGINT) AS entur_amount,
           string_agg(DISTINCT e.currency, ',' ORDER BY e.currency) AS entur_currency,
           min(e.entur_date) AS entur_date
    FROM key2 AS k JOIN entur_side AS e USING (entur_id)
    GROUP BY k.kind, k.order_key
), units AS (
    SELECT * FROM pairs
    UNION ALL
    SELECT v.kind, 2, v.order_key, v.ledger_id, v.reference, v.psp_reference, e.order_id,
           e.payment_id, e.credit_id, e.entur_transaction_id, v.vipps_amount, e.entur_amount,
           v.vipps_currency, e.entur_currency, v.vipps_date, e.entur_date, v.vipps_api
    FROM groups_v AS v JOIN groups_e AS e USING (kind, order_key)
)
SELECT * EXCLUDE (vipps_api),
       vipps_amount - entur_amount AS difference,
       CASE
           WHEN vipps_currency IS DISTINCT FROM entur_currency THEN 'CURRENCY_MISMATCH'
           WHEN vipps_amount IS NULL OR entur_amount IS NULL
                OR abs(vipps_amount - entur_amount) > $tolerance THEN 'AMOUNT_MISMATCH'
           WHEN abs(vipps_date - entur_date) > $window THEN 'TIMING_DIFFERENCE'
           ELSE 'MATCHED'
       END AS outcome,
       least(vipps_date, entur_date) AS row_date,
       vipps_api
FROM units
