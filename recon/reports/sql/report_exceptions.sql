-- Every exception of the lake (recon_exceptions, any period) on the report's as-of date ($today),
-- made once per workbook into a temporary table that the Mismatches sheet (ID, first seen,
-- status), the Worklist sheet and the Summary's aging block read. The subquery below is
-- recon_exceptions' own (recon/lake/sql/exceptions.sql through recon.lake.catalog.exceptions_sql,
-- spliced in by recon/reports/sheets.py), so the workbook and `recon query "... FROM
-- recon_exceptions"` cannot disagree but for the date.
-- worklist_row numbers the open exceptions, oldest business date first (then code, ID), from 0:
-- the Worklist sheet reads them a page at a time in that order.
CREATE OR REPLACE TEMP TABLE report_exceptions AS
SELECT *,
       CASE WHEN status = 'open'
            THEN row_number() OVER (PARTITION BY status = 'open' ORDER BY business_date, code, exception_id) - 1
       END AS worklist_row
FROM (
{exceptions}
) AS e
