-- One row per exception of the period, with both sides' ids, amounts (minor units), difference,
-- currency, dates, ledger and a human explanation. A row belongs to the period of its earliest
-- business date, so no exception is reported by two periods. Each branch below is named by the
-- code(s) it writes; the branches are combined BY NAME, so a column a branch does not name is NULL.
WITH unmatched_vipps AS (
    -- Left by key 1 (leftover.sql: surplus duplicates set aside) and by key 2.
    SELECT v.* FROM vipps_side AS v
    SEMI JOIN leftover AS l ON l.side = 'vipps' AND l.row = v.rowid
    ANTI JOIN key2 AS k ON k.vipps_row = v.rowid
), unmatched_entur AS (
    SELECT e.* FROM entur_side AS e
    SEMI JOIN leftover AS l ON l.side = 'entur' AND l.row = e.rowid
    ANTI JOIN key2 AS k ON k.entur_row = e.rowid
), duplicate_vipps AS (
    -- The surplus entries duplicates.sql picked, each side's.
    SELECT v.* FROM vipps_side AS v SEMI JOIN duplicates AS d ON d.side = 'vipps' AND d.row = v.rowid
), duplicate_entur AS (
    SELECT e.* FROM entur_side AS e SEMI JOIN duplicates AS d ON d.side = 'entur' AND d.row = e.rowid
), vipps_rows AS (
    -- The Vipps entries that get a row of their own (and the Entur order of theirs, if any).
    SELECT * FROM duplicate_vipps UNION ALL SELECT * FROM unmatched_vipps
), entur_rows AS (
    SELECT * FROM duplicate_entur UNION ALL SELECT * FROM unmatched_entur
), vipps_orders AS (
    -- Orders of the Sales entries (every payment type) and of the funds-only entries (vipps_side),
    -- for the Entur rows only (the few that need one: every other order is never looked up). The
    -- Sales entries of the read window (stg_vipps_entries.sql) are read as landed: a re-landed copy
    -- carries the same ledger and reference, so the lowest of each is the same.
    SELECT order_key, min(ledger_id) AS ledger_id, min(reference) AS reference
    FROM (SELECT strip_ref(reference, $prefix, $suffix) AS order_key, ledger_id, reference
          FROM raw_vipps_sales_entries
          WHERE business_date BETWEEN $date_from - $window AND $date_to + $window AND entry_type IN ('capture', 'refund')
          UNION ALL SELECT order_key, ledger_id, reference FROM vipps_side WHERE vipps_api = 'report')
    SEMI JOIN entur_rows AS e USING (order_key)
    GROUP BY 1
), entur_orders AS (
    -- Every Entur order ever landed (whenever it was made) that a Vipps row names.
    SELECT DISTINCT order_id
    FROM (SELECT order_id FROM raw_entur_payments UNION ALL SELECT order_id FROM raw_entur_credits)
    SEMI JOIN vipps_rows AS v ON v.order_key = order_id
), rows AS (
    -- CURRENCY_MISMATCH, AMOUNT_MISMATCH, TIMING_DIFFERENCE: matched units whose outcome
    -- (matches.sql) is not MATCHED.
    -- A CURRENCY_MISMATCH has no difference: amounts in two currencies are never subtracted.
    SELECT outcome AS code, kind, ledger_id, reference, psp_reference, order_id, payment_id, credit_id,
           entur_transaction_id, vipps_amount, entur_amount,
           CASE WHEN outcome = 'CURRENCY_MISMATCH' THEN NULL ELSE difference END AS difference,
           coalesce(vipps_currency, entur_currency) AS currency, entur_currency, vipps_date, entur_date, row_date,
           vipps_api,
           CASE outcome
               WHEN 'CURRENCY_MISMATCH' THEN 'Vipps ' || kind || ' in ' || vipps_currency || ' matched (key '
                    || match_key || ') an Entur transaction in ' || entur_currency || '; amounts not compared'
               WHEN 'AMOUNT_MISMATCH' THEN 'Vipps ' || kind
                    || (CASE WHEN match_key = 2 THEN 's of order ' || order_key || ' sum to ' ELSE ' ' END)
                    || money(vipps_amount, vipps_currency) || ' but Entur '
                    || (CASE WHEN match_key = 2 THEN 'has ' ELSE 'transaction ' || entur_transaction_id || ' has ' END)
                    || money(entur_amount, entur_currency) || ' (matched by '
                    || (CASE WHEN match_key = 1 THEN 'pspReference' ELSE 'order' END) || ')'
               ELSE 'matched and equal, but the Vipps date ' || CAST(vipps_date AS VARCHAR) || ' and the Entur date '
                    || CAST(entur_date AS VARCHAR) || ' are ' || CAST(abs(vipps_date - entur_date) AS VARCHAR)
                    || ' days apart (window ' || CAST($window AS VARCHAR) || ')'
           END
           || (CASE vipps_api WHEN 'report' THEN '; the Vipps side is a Report API funds entry (not in the Sales API)'
                              WHEN 'report,sales' THEN '; the Vipps side is partly Report API funds entries'
                              ELSE '' END) AS explanation
    FROM matches WHERE outcome <> 'MATCHED'

    UNION ALL BY NAME
    -- DUPLICATE, Vipps side: the surplus captures duplicates.sql picked.
    SELECT 'DUPLICATE' AS code, v.kind, v.vipps_id AS entry_key, v.ledger_id, v.reference, v.psp_reference, o.order_id,
           v.amount AS vipps_amount, v.amount AS difference, v.currency, v.vipps_date, v.vipps_date AS row_date,
           v.vipps_api,
           'order ' || v.order_key || ' was captured again in Vipps for ' || money(v.amount, v.currency)
           || ' (pspReference ' || coalesce(v.psp_reference, '-') || '); Entur holds fewer captures of that amount'
           || (CASE WHEN v.vipps_api = 'report' THEN ' (a Report API funds entry; the Sales API has no such entry)'
                    ELSE '' END)
           AS explanation
    FROM duplicate_vipps AS v
    LEFT JOIN entur_orders AS o ON o.order_id = v.order_key

    UNION ALL BY NAME
    -- DUPLICATE, Entur side.
    SELECT 'DUPLICATE' AS code, e.kind, o.ledger_id, o.reference, e.order_id, e.payment_id,
           e.transaction_id AS entur_transaction_id, e.amount AS entur_amount, -e.amount AS difference,
           e.currency, e.currency AS entur_currency, e.entur_date, e.entur_date AS row_date,
           'order ' || e.order_id || ' was captured again in Entur for ' || money(e.amount, e.currency)
           || ' (transaction ' || e.transaction_id || '); Vipps holds fewer captures of that amount' AS explanation
    FROM duplicate_entur AS e
    LEFT JOIN vipps_orders AS o ON o.order_key = e.order_key

    UNION ALL BY NAME
    -- MISSING_IN_ENTUR (a capture), REFUND_WITHOUT_CREDIT (a refund): Vipps left by both keys.
    SELECT CASE WHEN v.kind = 'capture' THEN 'MISSING_IN_ENTUR' ELSE 'REFUND_WITHOUT_CREDIT' END AS code,
           v.kind, v.vipps_id AS entry_key, v.ledger_id, v.reference, v.psp_reference, o.order_id,
           v.amount AS vipps_amount, v.amount AS difference, v.currency, v.vipps_date, v.vipps_date AS row_date,
           v.vipps_api,
           'Vipps ' || v.kind
           || (CASE WHEN v.vipps_api = 'report' THEN ' (a Report API funds entry; the Sales API has no such entry)'
                    ELSE '' END)
           || ' of ' || money(v.amount, v.currency) || ' (pspReference '
           || coalesce(v.psp_reference, '-') || ', reference ' || v.reference || ') matches no Entur '
           || (CASE WHEN v.kind = 'capture' THEN 'CAPTURED Vipps payment transaction' ELSE 'CREDITED Vipps credit' END)
           || ' by pspReference or order' AS explanation
    FROM unmatched_vipps AS v LEFT JOIN entur_orders AS o ON o.order_id = v.order_key

    UNION ALL BY NAME
    -- MISSING_IN_VIPPS (a payment transaction), CREDIT_WITHOUT_REFUND (a credit transaction):
    -- Entur left by both keys.
    SELECT CASE WHEN e.kind = 'capture' THEN 'MISSING_IN_VIPPS' ELSE 'CREDIT_WITHOUT_REFUND' END AS code,
           e.kind, o.ledger_id, o.reference, e.order_id, e.payment_id, e.credit_id,
           e.transaction_id AS entur_transaction_id, e.amount AS entur_amount, -e.amount AS difference,
           e.currency, e.currency AS entur_currency, e.entur_date, e.entur_date AS row_date,
           'Entur ' || (CASE WHEN e.kind = 'capture' THEN 'Vipps payment transaction ' ELSE 'Vipps credit transaction ' END)
           || e.transaction_id || ' of ' || money(e.amount, e.currency) || ' (order ' || e.order_id
           || ', externalTransactionId ' || coalesce(e.external_transaction_id, '-') || ') matches no Vipps '
           || e.kind || ' by pspReference or order' AS explanation
    FROM unmatched_entur AS e LEFT JOIN vipps_orders AS o ON o.order_key = e.order_key

    UNION ALL BY NAME
    -- VAT_MISMATCH: the entries vat_check.sql found, with the entry's gross as its Vipps amount and
    -- the VAT figures in columns of their own (line ID, line gross and net, stated and expected VAT).
    SELECT 'VAT_MISMATCH' AS code, 'vat' AS kind, entry_key, ledger_id, reference, psp_reference,
           entry_gross AS vipps_amount, difference, currency, business_date AS vipps_date,
           business_date AS row_date, line_id,
           line_total_gross AS line_gross, line_total_net AS line_net, stated_vat, expected_vat, explanation
    FROM vat_check

    UNION ALL BY NAME
    -- NOT_SETTLED: a Sales entry with a pspReference that has no funds entry, past the grace days
    -- (settlement_check.sql); a row of the Sales entry's business date.
    -- SETTLEMENT_AMOUNT_MISMATCH: a Sales entry whose funds entry settled another amount
    -- (settlement_check.sql); a row of the Sales entry's business date.
    SELECT code, entry_type AS kind, entry_key, ledger_id, reference, psp_reference, amount AS vipps_amount, difference,
           currency, business_date AS vipps_date, business_date AS row_date, 'sales' AS vipps_api, 'funds' AS feed,
           entry_type, settled_amount, ledger_date, explanation
    FROM settlement_check

    UNION ALL BY NAME
    -- BALANCE_BREAK: an entry of a ledger's funds or fees feed whose balances break the chain
    -- (balance_check.sql); a row of the breaking entry's business date.
    SELECT 'BALANCE_BREAK' AS code, 'balance' AS kind, entry_key, ledger_id, reference, psp_reference, gap AS difference,
           currency, business_date AS vipps_date, business_date AS row_date, 'report' AS vipps_api, feed,
           entry_type, amount AS settled_amount, balance_before, balance_after, previous_balance_after,
           ledger_date, explanation
    FROM (SELECT * FROM balance_check_funds UNION ALL SELECT * FROM balance_check_fees)

    UNION ALL BY NAME
    -- BOOKING_NOT_PAID, BOOKING_REFUNDED_NOT_CREDITED: the bookings bookings.sql found.
    SELECT code, 'booking' AS kind, order_id, booking_id,
           CASE WHEN code = 'BOOKING_NOT_PAID' THEN total_price ELSE refund_amount END AS booking_amount,
           currency, booking_date AS row_date, explanation
    FROM booking_check
)
SELECT -- The same records give the same ID in every run (macro_exception_id.sql): the code, the
       -- landed entry's key where the row is about one Vipps entry, and every ID column.
       exception_id(concat_ws('|', code, coalesce(entry_key, ''), coalesce(ledger_id, ''), coalesce(reference, ''),
                              coalesce(psp_reference, ''), coalesce(order_id, ''), coalesce(payment_id, ''),
                              coalesce(entur_transaction_id, ''), coalesce(credit_id, ''), coalesce(booking_id, ''),
                              coalesce(feed, ''))) AS exception_id,
       code, explanation, kind, ledger_id, reference, psp_reference, order_id,
       payment_id AS entur_payment_id, entur_transaction_id, credit_id AS entur_credit_id, booking_id,
       booking_amount, vipps_amount, entur_amount, difference, currency, entur_currency, vipps_date, entur_date,
       row_date AS business_date, row_date >= $today - $lag AS provisional,
       -- Why the row may be caused by missing data: the check reads a source that failed this run.
       i.reason AS incomplete,
       -- Vipps ↔ Entur and settlement rows: which Vipps API the row's Vipps entry came from; the
       -- settlement codes' feed, entry type, settled amount (signed as sent), balances, ledger date.
       vipps_api, feed, entry_type, settled_amount, balance_before, balance_after, previous_balance_after,
       ledger_date,
       -- VAT_MISMATCH rows: the faulty line (none for the Σ check) and its VAT, stated and expected.
       line_id, line_gross, line_net, stated_vat, expected_vat,
       -- The amount at stake, ≥ 0, what the Summary adds up per code and currency: |difference|;
       -- where the amounts agree or cannot be compared (TIMING_DIFFERENCE, CURRENCY_MISMATCH) the
       -- amount involved, the Vipps side's; else the one amount the row has.
       CAST(CASE WHEN code IN ('CURRENCY_MISMATCH', 'TIMING_DIFFERENCE') THEN abs(vipps_amount)
                 ELSE abs(coalesce(difference, vipps_amount, entur_amount, booking_amount, 0)) END AS BIGINT)
           AS exposure
FROM rows LEFT JOIN incomplete_checks AS i USING (code)
WHERE row_date BETWEEN $date_from AND $date_to
ORDER BY code, business_date, ledger_id NULLS LAST, reference NULLS LAST, psp_reference NULLS LAST,
         order_id NULLS LAST, entur_transaction_id NULLS LAST, booking_id NULLS LAST, feed NULLS LAST,
         ledger_date NULLS LAST, entry_type NULLS LAST, balance_before NULLS LAST
