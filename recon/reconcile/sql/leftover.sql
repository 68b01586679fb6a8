-- What key 1 left on either side, its surplus duplicates (duplicates.sql) set aside: the entries
-- key 2 pairs by order (key2.sql), and of those it does not, the MISSING_IN_ENTUR, MISSING_IN_VIPPS,
-- REFUND_WITHOUT_CREDIT and CREDIT_WITHOUT_REFUND rows (mismatches.sql). Few rows: both steps read
-- them instead of setting every matched entry aside again.
SELECT 'vipps' AS side, s.vipps_id AS id
FROM vipps_side AS s
ANTI JOIN key1 AS k ON k.vipps_id = s.vipps_id
ANTI JOIN duplicates AS d ON d.side = 'vipps' AND d.id = s.vipps_id
UNION ALL
SELECT 'entur', s.entur_id
FROM entur_side AS s
ANTI JOIN key1 AS k ON k.entur_id = s.entur_id
ANTI JOIN duplicates AS d ON d.side = 'entur' AND d.id = s.entur_id
