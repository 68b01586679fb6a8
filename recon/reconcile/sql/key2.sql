-- Key 2, for what key 1 left on both sides (surplus duplicates set aside: leftover.sql): Vipps
-- reference (prefix/suffix stripped) = Entur orderId, comparing the sums of each side for that order.
WITH v AS (
    SELECT s.rowid AS vipps_row, s.*
    FROM vipps_side AS s SEMI JOIN leftover AS l ON l.side = 'vipps' AND l.row = s.rowid
    WHERE s.order_key IS NOT NULL
), e AS (
    SELECT s.rowid AS entur_row, s.*
    FROM entur_side AS s SEMI JOIN leftover AS l ON l.side = 'entur' AND l.row = s.rowid
    WHERE s.order_key IS NOT NULL
)
SELECT v.kind, v.order_key, v.vipps_row, NULL::BIGINT AS entur_row
FROM v SEMI JOIN e ON e.kind = v.kind AND e.order_key = v.order_key
UNION ALL
SELECT e.kind, e.order_key, NULL, e.entur_row
FROM e SEMI JOIN v ON v.kind = e.kind AND v.order_key = e.order_key
