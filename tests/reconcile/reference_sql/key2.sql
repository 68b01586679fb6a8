-- Key 2, for what key 1 left on both sides (surplus duplicates set aside): Vipps reference
-- (prefix/suffix stripped) = Entur orderId, comparing the sums of each side for that order.
WITH v AS (
    SELECT * FROM vipps_side AS s
    WHERE s.order_key IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM key1 WHERE key1.vipps_id = s.vipps_id)
      AND NOT EXISTS (SELECT 1 FROM duplicates AS d WHERE d.side = 'vipps' AND d.id = s.vipps_id)
), e AS (
    SELECT * FROM entur_side AS s
    WHERE s.order_key IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM key1 WHERE key1.entur_id = s.entur_id)
      AND NOT EXISTS (SELECT 1 FROM duplicates AS d WHERE d.side = 'entur' AND d.id = s.entur_id)
)
SELECT v.kind, v.order_key, v.vipps_id, NULL::VARCHAR AS entur_id
FROM v SEMI JOIN e ON e.kind = v.kind AND e.order_key = v.order_key
UNION ALL
SELECT e.kind, e.order_key, NULL, e.entur_id
FROM e SEMI JOIN v ON v.kind = e.kind AND v.order_key = e.order_key
