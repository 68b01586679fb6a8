-- Records that change after creation: the API always answers with the current version, so the
-- version landed last wins.
SELECT * EXCLUDE (_rn) FROM (
    SELECT *, row_number() OVER (
        PARTITION BY {key}
        ORDER BY _landed_at DESC, CAST(split_part(_row_id, ':', 2) AS BIGINT) DESC) AS _rn
    FROM raw_{table})
WHERE _rn = 1
