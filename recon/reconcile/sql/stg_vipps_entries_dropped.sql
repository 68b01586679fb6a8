-- The Sales API captures and refunds of the settlement read window (the period widened by $span
-- days on both sides) that are a later landed copy of an entry landed before with the same
-- content (entry_key and _hash), among the entries of the matching window (stg_vipps_entries.sql)
-- and among those beyond it (stg_vipps_sales_settle.sql): their row ids. Almost every entry lands
-- once, so this table is small; the staged views read every other entry from the Parquet files.
WITH entries AS NOT MATERIALIZED (
    SELECT entry_key, _hash, _landed_at, _row_id,
           business_date BETWEEN $date_from - $window AND $date_to + $window AS in_window
    FROM raw_vipps_sales_entries
    WHERE business_date BETWEEN $date_from - $span AND $date_to + $span AND entry_type IN ('capture', 'refund')
), candidates AS (
    -- Copies share the hash of their key and content: only the rows whose hash is on another row
    -- too are ranked by the text (a hash two contents share only brings both into the ranking).
    SELECT * FROM entries
    SEMI JOIN (SELECT hash(entry_key, _hash) AS h FROM entries GROUP BY h HAVING count(*) > 1) AS c
        ON hash(entries.entry_key, entries._hash) = c.h
)
SELECT _row_id FROM candidates
QUALIFY row_number() OVER (PARTITION BY entry_key, _hash, in_window ORDER BY landing_seq(_landed_at, _row_id)) > 1
