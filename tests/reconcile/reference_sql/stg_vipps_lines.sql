-- The order lines of the staged entries (lines share their entry's business date).
SELECT l._parent_row_id, l.line_no, l.line_id, l.category, l.line_total_gross, l.line_total_net,
       l.vat_rate_bp, l.vat_amount
FROM raw_vipps_sales_lines AS l SEMI JOIN stg_vipps_entries AS e ON l._parent_row_id = e._row_id
WHERE l.business_date BETWEEN $date_from - $window AND $date_to + $window
