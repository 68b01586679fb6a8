-- Immutable records: one row per natural key and content; a record landed twice shows once (its
-- first landed copy, landing_seq).
SELECT * EXCLUDE (_rn) FROM (
    SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY landing_seq(_landed_at, _row_id)) AS _rn
    FROM raw_{table})
WHERE _rn = 1
