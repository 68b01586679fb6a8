-- Booking checks. A booking's state is its event with the latest eventTime (ties: the later in
-- the feed). A booking belongs to the period of its latest event; events before the period
-- cannot be its latest, so only partitions from the period's start are read.
--   BOOKING_NOT_PAID               state FULFILLED, and no CAPTURED Entur payment transaction (any
--                                  method) for its order
--   BOOKING_REFUNDED_NOT_CREDITED  state REFUNDED with a refund above 0, and no CREDITED Entur
--                                  credit (any method) for its order
WITH state AS (
    SELECT * FROM raw_samtrafiken_booking_events
    WHERE business_date >= $date_from
    QUALIFY row_number() OVER (PARTITION BY booking_id ORDER BY event_time DESC, feed_seq DESC) = 1
), due AS (
    SELECT * FROM state
    WHERE business_date BETWEEN $date_from AND $date_to AND status IN ('FULFILLED', 'REFUNDED')
), paid AS (
    -- The latest landed version of each transaction of the orders concerned, whenever it was made.
    SELECT t.order_id FROM raw_entur_payment_transactions AS t SEMI JOIN due ON t.order_id = due.retailer_reference
    QUALIFY row_number() OVER (PARTITION BY payment_id, transaction_id
                               ORDER BY landing_seq(_landed_at, _row_id) DESC) = 1
        AND status = 'CAPTURED'
), credited AS (
    SELECT c.order_id FROM raw_entur_credits AS c SEMI JOIN due ON c.order_id = due.retailer_reference
    QUALIFY row_number() OVER (PARTITION BY credit_id ORDER BY landing_seq(_landed_at, _row_id) DESC) = 1
        AND status = 'CREDITED'
    UNION
    SELECT t.order_id FROM raw_entur_credit_transactions AS t SEMI JOIN due ON t.order_id = due.retailer_reference
    QUALIFY row_number() OVER (PARTITION BY credit_id, transaction_id
                               ORDER BY landing_seq(_landed_at, _row_id) DESC) = 1
        AND coalesce(credit_status, status) = 'CREDITED'
), unpaid AS (
    -- BOOKING_NOT_PAID
    SELECT 'BOOKING_NOT_PAID' AS code, s.*,
           'booking ' || s.booking_id || ' is FULFILLED (' || money(s.total_price, s.currency)
           || ') but order ' || coalesce(s.retailer_reference, '(none)')
           || ' has no CAPTURED Entur payment transaction' AS explanation
    FROM due AS s ANTI JOIN paid ON s.retailer_reference = paid.order_id
    WHERE s.status = 'FULFILLED'
), uncredited AS (
    -- BOOKING_REFUNDED_NOT_CREDITED
    SELECT 'BOOKING_REFUNDED_NOT_CREDITED' AS code, s.*,
           'booking ' || s.booking_id || ' is REFUNDED (' || money(s.refund_amount, s.currency)
           || ') but order ' || coalesce(s.retailer_reference, '(none)') || ' has no CREDITED Entur credit'
           AS explanation
    FROM due AS s ANTI JOIN credited ON s.retailer_reference = credited.order_id
    WHERE s.status = 'REFUNDED' AND s.refund_amount > 0
)
SELECT code, booking_id, booking_number, event_id, retailer_reference AS order_id, status, currency,
       total_price, refund_amount, business_date AS booking_date, explanation
FROM (SELECT * FROM unpaid UNION ALL SELECT * FROM uncredited)
