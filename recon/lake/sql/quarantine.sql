-- Quarantined records, once each however often they were pulled.
SELECT * EXCLUDE (_rn) FROM (
    SELECT *, row_number() OVER (PARTITION BY source, kind, _hash, reason ORDER BY _landed_at) AS _rn
    FROM read_parquet('{glob}', union_by_name = true))
WHERE _rn = 1
