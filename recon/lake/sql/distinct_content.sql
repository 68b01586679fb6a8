-- Immutable records: one row per natural key and content; a record landed twice shows once.
SELECT * EXCLUDE (_rn) FROM (
    SELECT *, row_number() OVER (
        PARTITION BY {key}
        ORDER BY _landed_at, CAST(split_part(_row_id, ':', 2) AS BIGINT)) AS _rn
    FROM raw_{table})
WHERE _rn = 1
