-- Every landed row of one table, as written (append-only, may hold re-landed records).
SELECT * FROM read_parquet('{glob}', hive_partitioning = true, union_by_name = true,
                           hive_types = {{'{partition}': DATE}})
