-- Records that change after creation (Entur payments and credits): the API always answers with
-- the current version, so the version landed last wins (landing_seq).
SELECT * EXCLUDE (_rn) FROM (
    SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY landing_seq(_landed_at, _row_id) DESC) AS _rn
    FROM raw_{table})
WHERE _rn = 1
