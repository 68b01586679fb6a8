-- Key 2, for what key 1 left on both sides (surplus duplicates set aside): Vipps reference
-- (prefix/suffix stripped) = Entur orderId, comparing the sums of each side for that order.
WITH v AS (
    SELECT * FROM vipps_side
    WHERE vipps_id NOT IN (SELECT vipps_id FROM key1)
      AND vipps_id NOT IN (SELECT id FROM duplicates WHERE side = 'vipps')
      AND order_key IS NOT NULL
), e AS (
    SELECT * FROM entur_side
    WHERE entur_id NOT IN (SELECT entur_id FROM key1)
      AND entur_id NOT IN (SELECT id FROM duplicates WHERE side = 'entur')
      AND order_key IS NOT NULL
)
SELECT v.kind, v.order_key, v.vipps_id, NULL::VARCHAR AS entur_id FROM v
WHERE EXISTS (SELECT 1 FROM e WHERE e.kind = v.kind AND e.order_key = v.order_key)
UNION ALL
SELECT e.kind, e.order_key, NULL, e.entur_id FROM e
WHERE EXISTS (SELECT 1 FROM v WHERE v.kind = e.kind AND v.order_key = e.order_key)
