-- recon_runs: every `recon run` (and `recon demo`), one row per run and source, from the run
-- manifests under <lake>/_state/runs/*.run.json. A run whose sources all landed has outcome 'ok'
-- on every row and exit_code 0; 3 means a source (or ledger) failed and its checks are incomplete.
WITH runs AS (
    SELECT * FROM read_json('{glob}', format = 'auto', columns = {{
        run_id: 'VARCHAR', started_at: 'TIMESTAMPTZ', finished_at: 'TIMESTAMPTZ', period: 'DATE[]',
        exit_code: 'INTEGER', exceptions: 'BIGINT', workbook: 'VARCHAR',
        sources: 'STRUCT(source VARCHAR, outcome VARCHAR, error VARCHAR, pages BIGINT, records BIGINT,
                         quarantined BIGINT, retries BIGINT)[]'
    }})
)
SELECT run_id, started_at, finished_at, period[1] AS period_from, period[2] AS period_to, exit_code,
       exceptions, workbook, s.source, s.outcome, s.error, s.pages, s.records, s.quarantined, s.retries
FROM (SELECT *, unnest(coalesce(sources, [NULL])) AS s FROM runs)
