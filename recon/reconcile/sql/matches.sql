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
), units AS (
    SELECT * FROM pairs
    UNION ALL
    SELECT * FROM key2_units
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
