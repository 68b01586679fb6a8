-- The oldest open exception (the inner query is recon_exceptions at the run's as-of date): what
-- `recon run --fail-on-age` compares with its limit.
SELECT exception_id, code, age_days FROM ({exceptions}) WHERE status = 'open'
ORDER BY age_days DESC, exception_id
LIMIT 1
