-- Booking checks: a booking's state is its event with the latest eventTime (ties: the later in
-- the feed). FULFILLED needs a CAPTURED Entur payment transaction (any method) for its order;
-- REFUNDED with a refund above 0 needs a CREDITED Entur credit (any method) for its order.
WITH state AS (
    SELECT * FROM samtrafiken_booking_events
    QUALIFY row_number() OVER (PARTITION BY booking_id ORDER BY event_time DESC, feed_seq DESC) = 1
), paid AS (
    SELECT DISTINCT order_id FROM entur_payment_transactions
    WHERE status = 'CAPTURED' AND order_id IS NOT NULL
), credited AS (
    SELECT order_id FROM entur_credits WHERE status = 'CREDITED' AND order_id IS NOT NULL
    UNION
    SELECT order_id FROM entur_credit_transactions
    WHERE coalesce(credit_status, status) = 'CREDITED' AND order_id IS NOT NULL
)
SELECT CASE WHEN s.status = 'FULFILLED' THEN 'BOOKING_NOT_PAID' ELSE 'BOOKING_REFUNDED_NOT_CREDITED' END AS code,
       s.booking_id, s.booking_number, s.event_id, s.retailer_reference AS order_id, s.status,
       s.currency, s.total_price, s.refund_amount, s.business_date AS booking_date,
       CASE WHEN s.status = 'FULFILLED'
            THEN 'booking ' || s.booking_id || ' is FULFILLED (' || money(s.total_price, s.currency)
                 || ') but order ' || coalesce(s.retailer_reference, '(none)')
                 || ' has no CAPTURED Entur payment transaction'
            ELSE 'booking ' || s.booking_id || ' is REFUNDED (' || money(s.refund_amount, s.currency)
                 || ') but order ' || coalesce(s.retailer_reference, '(none)') || ' has no CREDITED Entur credit'
       END AS explanation
FROM state AS s
WHERE s.business_date BETWEEN $date_from AND $date_to
  AND ((s.status = 'FULFILLED' AND (s.retailer_reference IS NULL
                                     OR s.retailer_reference NOT IN (SELECT order_id FROM paid)))
    OR (s.status = 'REFUNDED' AND s.refund_amount > 0
        AND (s.retailer_reference IS NULL OR s.retailer_reference NOT IN (SELECT order_id FROM credited))))
