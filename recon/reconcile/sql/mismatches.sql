-- One row per exception of the period, with both sides' ids, amounts (minor units), difference,
-- currency, dates, ledger and a human explanation. A row belongs to the period of its earliest
-- business date, so no exception is reported by two periods.
WITH vipps_orders AS (
    SELECT strip_ref(reference, $prefix, $suffix) AS order_key, min(ledger_id) AS ledger_id,
           min(reference) AS reference
    FROM stg_vipps_entries GROUP BY 1
), entur_orders AS (
    SELECT DISTINCT order_id FROM raw_entur_payments WHERE order_id IS NOT NULL
    UNION SELECT order_id FROM raw_entur_credits WHERE order_id IS NOT NULL
), unmatched_vipps AS (
    SELECT v.* FROM vipps_side AS v
    WHERE v.vipps_id NOT IN (SELECT vipps_id FROM key1)
      AND v.vipps_id NOT IN (SELECT vipps_id FROM key2 WHERE vipps_id IS NOT NULL)
      AND v.vipps_id NOT IN (SELECT id FROM duplicates WHERE side = 'vipps')
), unmatched_entur AS (
    SELECT e.* FROM entur_side AS e
    WHERE e.entur_id NOT IN (SELECT entur_id FROM key1)
      AND e.entur_id NOT IN (SELECT entur_id FROM key2 WHERE entur_id IS NOT NULL)
      AND e.entur_id NOT IN (SELECT id FROM duplicates WHERE side = 'entur')
), rows AS (
    SELECT outcome AS code, kind, ledger_id, reference, psp_reference, order_id, payment_id, credit_id,
           entur_transaction_id, NULL::VARCHAR AS booking_id, NULL::BIGINT AS booking_amount, vipps_amount, entur_amount, difference,
           coalesce(vipps_currency, entur_currency) AS currency, entur_currency, vipps_date, entur_date,
           row_date,
           CASE outcome
               WHEN 'CURRENCY_MISMATCH' THEN 'Vipps ' || kind || ' in ' || vipps_currency || ' matched (key '
                    || match_key || ') an Entur transaction in ' || entur_currency || '; amounts not compared'
               WHEN 'AMOUNT_MISMATCH' THEN 'Vipps ' || kind || (CASE WHEN match_key = 2 THEN 's of order ' || order_key || ' sum to ' ELSE ' ' END)
                    || money(vipps_amount, vipps_currency) || ' but Entur '
                    || (CASE WHEN match_key = 2 THEN 'has ' ELSE 'transaction ' || entur_transaction_id || ' has ' END)
                    || money(entur_amount, entur_currency) || ' (matched by '
                    || (CASE WHEN match_key = 1 THEN 'pspReference' ELSE 'order' END) || ')'
               ELSE 'matched and equal, but the Vipps date ' || CAST(vipps_date AS VARCHAR) || ' and the Entur date '
                    || CAST(entur_date AS VARCHAR) || ' are ' || CAST(abs(vipps_date - entur_date) AS VARCHAR)
                    || ' days apart (window ' || CAST($window AS VARCHAR) || ')'
           END AS explanation
    FROM matches WHERE outcome <> 'MATCHED'

    UNION ALL
    SELECT 'DUPLICATE', v.kind, v.ledger_id, v.reference, v.psp_reference,
           (SELECT order_id FROM entur_orders WHERE order_id = v.order_key), NULL, NULL, NULL, NULL, NULL,
           v.amount, NULL, v.amount, v.currency, NULL, v.vipps_date, NULL, v.vipps_date,
           'order ' || v.order_key || ' was captured again in Vipps for ' || money(v.amount, v.currency)
           || ' (pspReference ' || coalesce(v.psp_reference, '-') || '); Entur holds fewer captures of that amount'
    FROM duplicates AS d JOIN vipps_side AS v ON d.side = 'vipps' AND d.id = v.vipps_id

    UNION ALL
    SELECT 'DUPLICATE', e.kind, o.ledger_id, o.reference, NULL, e.order_id, e.payment_id, NULL,
           e.transaction_id, NULL, NULL, NULL, e.amount, -e.amount, e.currency, e.currency, NULL, e.entur_date,
           e.entur_date,
           'order ' || e.order_id || ' was captured again in Entur for ' || money(e.amount, e.currency)
           || ' (transaction ' || e.transaction_id || '); Vipps holds fewer captures of that amount'
    FROM duplicates AS d JOIN entur_side AS e ON d.side = 'entur' AND d.id = e.entur_id
    LEFT JOIN vipps_orders AS o ON o.order_key = e.order_key

    UNION ALL
    SELECT CASE WHEN v.kind = 'capture' THEN 'MISSING_IN_ENTUR' ELSE 'REFUND_WITHOUT_CREDIT' END,
           v.kind, v.ledger_id, v.reference, v.psp_reference,
           (SELECT order_id FROM entur_orders WHERE order_id = v.order_key), NULL, NULL, NULL, NULL, NULL,
           v.amount, NULL, v.amount, v.currency, NULL, v.vipps_date, NULL, v.vipps_date,
           'Vipps ' || v.kind || ' of ' || money(v.amount, v.currency) || ' (pspReference '
           || coalesce(v.psp_reference, '-') || ', reference ' || v.reference || ') matches no Entur '
           || (CASE WHEN v.kind = 'capture' THEN 'CAPTURED Vipps payment transaction' ELSE 'CREDITED Vipps credit' END)
           || ' by pspReference or order'
    FROM unmatched_vipps AS v

    UNION ALL
    SELECT CASE WHEN e.kind = 'capture' THEN 'MISSING_IN_VIPPS' ELSE 'CREDIT_WITHOUT_REFUND' END,
           e.kind, o.ledger_id, o.reference, NULL, e.order_id, e.payment_id, e.credit_id, e.transaction_id,
           NULL, NULL, NULL, e.amount, -e.amount, e.currency, e.currency, NULL, e.entur_date, e.entur_date,
           'Entur ' || (CASE WHEN e.kind = 'capture' THEN 'Vipps payment transaction ' ELSE 'Vipps credit transaction ' END)
           || e.transaction_id || ' of ' || money(e.amount, e.currency) || ' (order ' || e.order_id
           || ', externalTransactionId ' || coalesce(e.external_transaction_id, '-') || ') matches no Vipps '
           || e.kind || ' by pspReference or order'
    FROM unmatched_entur AS e LEFT JOIN vipps_orders AS o ON o.order_key = e.order_key

    UNION ALL
    SELECT 'VAT_MISMATCH', 'vat', ledger_id, reference, psp_reference, NULL, NULL, NULL, NULL, NULL, NULL,
           entry_vat, lines_vat, entry_vat - lines_vat, currency, NULL, business_date, NULL, business_date,
           explanation
    FROM vat_check

    UNION ALL
    SELECT code, 'booking', NULL, NULL, NULL, order_id, NULL, NULL, NULL, booking_id,
           CASE WHEN code = 'BOOKING_NOT_PAID' THEN total_price ELSE refund_amount END, NULL, NULL, NULL,
           currency, NULL, NULL, NULL, booking_date, explanation
    FROM booking_check
)
SELECT code, explanation, kind, ledger_id, reference, psp_reference, order_id,
       payment_id AS entur_payment_id, entur_transaction_id, credit_id AS entur_credit_id, booking_id,
       booking_amount, vipps_amount, entur_amount, difference, currency, entur_currency, vipps_date, entur_date,
       row_date AS business_date, row_date >= $today - $lag AS provisional
FROM rows
WHERE row_date BETWEEN $date_from AND $date_to
ORDER BY code, business_date, ledger_id NULLS LAST, reference NULLS LAST, psp_reference NULLS LAST,
         order_id NULLS LAST, entur_transaction_id NULLS LAST, booking_id NULLS LAST
