-- Control: quarantined records per source (whole lake).
SELECT source, count(*) AS rows FROM quarantine GROUP BY source ORDER BY source
