-- DUPLICATE (its rows are written by mismatches.sql): one order's money recorded twice. On one
-- side, for one order, two or more captures (or Entur payment transactions) of the same amount,
-- where the other side holds fewer (but at least one) of that amount and the order's sums differ by
-- exactly the surplus. One row per surplus entry (`row`: its rowid in vipps_side or entur_side):
-- those key 1 left unmatched first, then the latest.
WITH candidates AS (
    -- Only an order with two captures of one amount on one side can hold a duplicate: almost every
    -- order has none, so the rest of the check reads the few that do (all their captures, both sides).
    SELECT order_key FROM vipps_side WHERE kind = 'capture' AND order_key IS NOT NULL
    GROUP BY order_key, amount HAVING count(*) >= 2
    UNION
    SELECT order_key FROM entur_side WHERE kind = 'capture' AND order_key IS NOT NULL
    GROUP BY order_key, amount HAVING count(*) >= 2
), v AS (
    SELECT s.order_key, s.rowid AS row, s.vipps_id AS id, s.amount, s.time AS at, k.vipps_row IS NOT NULL AS paired
    FROM vipps_side AS s SEMI JOIN candidates USING (order_key) LEFT JOIN key1 AS k ON k.vipps_row = s.rowid
    WHERE s.kind = 'capture'
), e AS (
    SELECT s.order_key, s.rowid AS row, entur_id(s.kind, s.payment_id, s.credit_id, s.transaction_id) AS id, s.amount,
           s.created_at AS at, k.entur_row IS NOT NULL AS paired
    FROM entur_side AS s SEMI JOIN candidates USING (order_key) LEFT JOIN key1 AS k ON k.entur_row = s.rowid
    WHERE s.kind = 'capture'
), sides AS (
    SELECT 'vipps' AS side, * FROM v UNION ALL SELECT 'entur', * FROM e
), sums AS (
    SELECT order_key,
           CAST(coalesce(sum(amount) FILTER (WHERE side = 'vipps'), 0) AS BIGINT) AS v_sum,
           CAST(coalesce(sum(amount) FILTER (WHERE side = 'entur'), 0) AS BIGINT) AS e_sum
    FROM sides GROUP BY order_key
), counts AS (
    SELECT order_key, amount,
           count(*) FILTER (WHERE side = 'vipps') AS v_cnt,
           count(*) FILTER (WHERE side = 'entur') AS e_cnt
    FROM sides GROUP BY order_key, amount
), surplus AS (
    SELECT c.order_key, c.amount,
           CASE WHEN v_cnt >= 2 AND e_cnt >= 1 AND v_cnt > e_cnt THEN 'vipps'
                WHEN e_cnt >= 2 AND v_cnt >= 1 AND e_cnt > v_cnt THEN 'entur' END AS side,
           abs(v_cnt - e_cnt) AS extra
    FROM counts AS c
), explained AS (
    -- The sums must differ by exactly the surplus of that side.
    SELECT s.order_key, s.side, s.amount, s.extra
    FROM surplus AS s JOIN sums USING (order_key)
    WHERE s.side IS NOT NULL
      AND (CASE WHEN s.side = 'vipps' THEN v_sum - e_sum ELSE e_sum - v_sum END)
          = (SELECT sum(s2.amount * s2.extra) FROM surplus AS s2
             WHERE s2.order_key = s.order_key AND s2.side = s.side)
), ranked AS (
    SELECT sides.side, sides.row, sides.order_key, sides.amount, x.extra,
           row_number() OVER (PARTITION BY sides.side, sides.order_key, sides.amount
                              ORDER BY sides.paired, sides.at DESC, sides.id DESC) AS n
    FROM sides JOIN explained AS x
        ON sides.order_key = x.order_key AND sides.side = x.side AND sides.amount = x.amount
)
SELECT side, row, order_key, amount FROM ranked WHERE n <= extra
