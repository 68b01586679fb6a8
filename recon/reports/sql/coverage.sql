-- What each source has landed (deduplicated views, whole lake): records, first and last business
-- date, and records in quarantine. Records: Vipps sales entries, Report API funds and fees entries,
-- Entur payments and credits, Samtrafiken booking events.
WITH landed AS (
    SELECT 'vipps' AS source, business_date FROM vipps_sales_entries
    UNION ALL SELECT 'vipps_report', business_date FROM vipps_funds_entries
    UNION ALL SELECT 'vipps_report', business_date FROM vipps_fees_entries
    UNION ALL SELECT 'entur', business_date FROM entur_payments
    UNION ALL SELECT 'entur', business_date FROM entur_credits
    UNION ALL SELECT 'samtrafiken', business_date FROM samtrafiken_booking_events
), sources AS (
    SELECT * FROM (VALUES (1, 'vipps'), (2, 'vipps_report'), (3, 'entur'), (4, 'samtrafiken')) AS s(pos, source)
)
SELECT s.source, count(l.business_date) AS records, min(l.business_date) AS first_date,
       max(l.business_date) AS last_date,
       (SELECT count(*) FROM quarantine AS q WHERE q.source = s.source) AS quarantined
FROM sources AS s LEFT JOIN landed AS l USING (source)
GROUP BY s.pos, s.source
ORDER BY s.pos
