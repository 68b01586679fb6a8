-- The Summary's oldest open exception: the Worklist's first row (the oldest business date, then
-- code and ID; see report_exceptions.sql). No row when nothing is open.
SELECT exception_id, code, age_days, business_date, first_seen
FROM report_exceptions
WHERE worklist_row = 0
