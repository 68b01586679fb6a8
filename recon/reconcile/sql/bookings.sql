-- Booking checks: a booking's state is its event with the latest eventTime (ties: the later in
-- the feed). FULFILLED needs a CAPTURED Entur payment transaction (any method) for its order;
-- REFUNDED with a refund above 0 needs a CREDITED Entur credit (any method) for its order.
-- A booking belongs to the period of its latest event; events before the period cannot be its
-- latest, so only partitions from the period's start are read.
WITH state AS (
    SELECT * FROM raw_samtrafiken_booking_events
    WHERE business_date >= $date_from
    QUALIFY row_number() OVER (PARTITION BY booking_id ORDER BY event_time DESC, feed_seq DESC) = 1
), due AS (
    SELECT * FROM state
    WHERE business_date BETWEEN $date_from AND $date_to AND status IN ('FULFILLED', 'REFUNDED')
), paid AS (
    -- The latest version of each transaction of the orders concerned, whenever it was made.
    SELECT order_id FROM raw_entur_payment_transactions
    WHERE order_id IN (SELECT retailer_reference FROM due)
    QUALIFY row_number() OVER (PARTITION BY payment_id, transaction_id
                               ORDER BY _landed_at DESC, CAST(split_part(_row_id, ':', 2) AS BIGINT) DESC) = 1
        AND status = 'CAPTURED'
), credited AS (
    SELECT order_id FROM raw_entur_credits
    WHERE order_id IN (SELECT retailer_reference FROM due)
    QUALIFY row_number() OVER (PARTITION BY credit_id
                               ORDER BY _landed_at DESC, CAST(split_part(_row_id, ':', 2) AS BIGINT) DESC) = 1
        AND status = 'CREDITED'
    UNION
    SELECT order_id FROM raw_entur_credit_transactions
    WHERE order_id IN (SELECT retailer_reference FROM due)
    QUALIFY row_number() OVER (PARTITION BY credit_id, transaction_id
                               ORDER BY _landed_at DESC, CAST(split_part(_row_id, ':', 2) AS BIGINT) DESC) = 1
        AND coalesce(credit_status, status) = 'CREDITED'
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
FROM due AS s
WHERE (s.status = 'FULFILLED'
       AND (s.retailer_reference IS NULL OR s.retailer_reference NOT IN (SELECT order_id FROM paid)))
   OR (s.status = 'REFUNDED' AND s.refund_amount > 0
       AND (s.retailer_reference IS NULL OR s.retailer_reference NOT IN (SELECT order_id FROM credited)))
