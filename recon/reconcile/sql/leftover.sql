-- What key 1 left on either side, its surplus duplicates (duplicates.sql) set aside: the entries
-- key 2 pairs by order (key2.sql), and of those it does not, the MISSING_IN_ENTUR, MISSING_IN_VIPPS,
-- REFUND_WITHOUT_CREDIT and CREDIT_WITHOUT_REFUND rows (mismatches.sql). Few rows: both steps read
-- them instead of setting every matched entry aside again. `row`: the entry's rowid in vipps_side or
-- entur_side (key1.sql).
SELECT 'vipps' AS side, s.rowid AS row
FROM vipps_side AS s
ANTI JOIN key1 AS k ON k.vipps_row = s.rowid
ANTI JOIN duplicates AS d ON d.side = 'vipps' AND d.row = s.rowid
UNION ALL
SELECT 'entur', s.rowid
FROM entur_side AS s
ANTI JOIN key1 AS k ON k.entur_row = s.rowid
ANTI JOIN duplicates AS d ON d.side = 'entur' AND d.row = s.rowid
