-- Control: rows and the sum of the table's amount column (recon.lake.schemas, Table.amount) per
-- currency, for one landed table (its deduplicated view, whole lake); run once per table.
SELECT currency, count(*) AS rows, CAST(sum({amount}) AS BIGINT) AS amount
FROM {table}
GROUP BY currency
ORDER BY currency NULLS LAST
