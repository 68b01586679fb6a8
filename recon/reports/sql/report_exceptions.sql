-- Every exception of the lake (recon_exceptions, any period) on the report's as-of date ($today),
-- made once per workbook into a temporary table that the Mismatches sheet (ID, first seen,
-- status), the Worklist sheet and the Summary's aging block read. The subquery below is
-- recon_exceptions' own (recon/lake/sql/exceptions.sql through recon.lake.catalog.exceptions_sql,
-- spliced in by recon/reports/sheets.py), so the workbook and `recon query "... FROM
-- recon_exceptions"` cannot disagree but for the date.
-- worklist_row numbers the open exceptions, oldest business date first (then code, ID), from 0:
-- the Worklist sheet reads them a page at a time in that order.
-- From the run that produced each one last (as recon_exceptions picks it): the Entur amount's
-- currency and the exposure (the amount the Summary adds up; rows of runs older than that column
-- take |difference|, or the one amount they have).
CREATE OR REPLACE TEMP TABLE report_exceptions AS
SELECT e.*, m.entur_currency,
       coalesce(m.exposure, abs(coalesce(e.difference, e.vipps_amount, e.entur_amount, e.booking_amount, 0)))
           AS exposure,
       CASE WHEN e.status = 'open'
            THEN row_number() OVER (PARTITION BY e.status = 'open' ORDER BY e.business_date, e.code, e.exception_id) - 1
       END AS worklist_row
FROM (
{exceptions}
) AS e
LEFT JOIN (
    SELECT exception_id, entur_currency, exposure FROM recon_mismatches_history WHERE exception_id IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY exception_id ORDER BY coalesce(reconciled_at, TIMESTAMPTZ '1970-01-01 00:00:00+00') DESC,
                                                                  run_id DESC) = 1
) AS m USING (exception_id)
