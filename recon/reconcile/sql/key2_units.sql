-- The key 2 order groups (key2.sql) as matched units, with both sides' columns: ids, amounts
-- (summed), currencies and dates, as matches.sql shows them. Few rows: its own step, so that the
-- Vipps and Entur sides need not be kept for matches.sql, a view read when the results are written.
WITH groups_v AS (
    SELECT k.kind, k.order_key,
           min(v.ledger_id) AS ledger_id, min(v.reference) AS reference,
           string_agg(v.psp_reference, ',' ORDER BY v.time, v.vipps_id) AS psp_reference,
           CAST(sum(v.amount) AS BIGINT) AS vipps_amount,
           string_agg(DISTINCT v.currency, ',' ORDER BY v.currency) AS vipps_currency,
           min(v.vipps_date) AS vipps_date,
           string_agg(DISTINCT v.vipps_api, ',' ORDER BY v.vipps_api) AS vipps_api
    FROM key2 AS k JOIN vipps_side AS v ON v.rowid = k.vipps_row
    GROUP BY k.kind, k.order_key
), groups_e AS (
    SELECT e.kind, e.order_key, min(e.order_id) AS order_id,
           string_agg(e.payment_id, ',' ORDER BY e.created_at, e.tie) AS payment_id,
           string_agg(e.credit_id, ',' ORDER BY e.created_at, e.tie) AS credit_id,
           string_agg(e.transaction_id, ',' ORDER BY e.created_at, e.tie) AS entur_transaction_id,
           CAST(sum(e.amount) AS BIGINT) AS entur_amount,
           string_agg(DISTINCT e.currency, ',' ORDER BY e.currency) AS entur_currency,
           min(e.entur_date) AS entur_date
    FROM (SELECT k.kind, k.order_key, e.* EXCLUDE (kind, order_key),
                 entur_id(e.kind, e.payment_id, e.credit_id, e.transaction_id) AS tie
          FROM key2 AS k JOIN entur_side AS e ON e.rowid = k.entur_row) AS e
    GROUP BY e.kind, e.order_key
)
SELECT v.kind, 2 AS match_key, v.order_key, v.ledger_id, v.reference, v.psp_reference, e.order_id,
       e.payment_id, e.credit_id, e.entur_transaction_id, v.vipps_amount, e.entur_amount,
       v.vipps_currency, e.entur_currency, v.vipps_date, e.entur_date, v.vipps_api
FROM groups_v AS v JOIN groups_e AS e USING (kind, order_key)
