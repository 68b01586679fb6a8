-- NOT_SETTLED and SETTLEMENT_AMOUNT_MISMATCH (their rows are written by mismatches.sql): each Sales
-- API capture and refund of the period with a pspReference (every payment type: mPOS card money
-- settles through Vipps too; cash has no pspReference and is never checked, nor is an entry of
-- payment type CASH that carries one), looked up in its ledger's funds feed by (ledger, entry
-- type, pspReference).
--   NOT_SETTLED                 no funds entry, although the entry's business date is at least
--                               $grace days (reconcile.settlement_grace_days) before the latest
--                               ledger date landed from that ledger's funds feed. A ledger with no
--                               funds landed is not checked.
--   SETTLEMENT_AMOUNT_MISMATCH  its funds entries' absolute amount differs from the Sales gross
--                               (amounts.gross, else the sum of its lines; absolute) by more than
--                               $tolerance. A Sales entry with neither gross nor lines (amounts
--                               "when available") cannot be compared and is not flagged.
WITH latest AS (
    SELECT ledger_id, latest_ledger_date FROM stg_vipps_funds_ledgers WHERE latest_ledger_date IS NOT NULL
), sales AS NOT MATERIALIZED (
    -- Only ledgers with funds landed are checked (stg_vipps_sales_settle.sql reads no other).
    SELECT s.*
    FROM stg_vipps_sales_settle AS s
    WHERE s.psp_reference IS NOT NULL AND s.business_date BETWEEN $date_from AND $date_to
      AND upper(coalesce(s.payment_type, '')) <> 'CASH'
), funds AS (
    -- Only the funds entries of the Sales entries checked (the others are never looked up).
    SELECT ledger_id, entry_type, psp_reference, count(*) AS funds_entries,
           CAST(sum(amount) AS BIGINT) AS settled_amount, CAST(sum(abs(amount)) AS BIGINT) AS settled_abs,
           min(ledger_date) AS ledger_date
    FROM stg_vipps_funds AS f
    SEMI JOIN sales AS s
        ON s.ledger_id = f.ledger_id AND s.entry_type = f.entry_type AND s.psp_reference = f.psp_reference
    WHERE entry_type IN ('capture', 'refund') AND psp_reference IS NOT NULL
    GROUP BY ALL
), failing AS (
    -- Each Sales entry beside its funds entries, on the columns that decide only: whether an entry
    -- fails depends on its ledger, type, pspReference, amount and date, so the few that fail are
    -- looked up by those afterwards, and the many that pass never carry their other columns.
    SELECT DISTINCT s.ledger_id, s.entry_type, s.psp_reference, s.amount, s.business_date,
           CASE WHEN f.funds_entries IS NULL THEN 'NOT_SETTLED' ELSE 'SETTLEMENT_AMOUNT_MISMATCH' END AS code,
           l.latest_ledger_date, f.settled_amount, f.ledger_date, f.funds_entries, f.settled_abs
    FROM (SELECT ledger_id, entry_type, psp_reference, amount, business_date FROM sales) AS s
    LEFT JOIN latest AS l ON l.ledger_id = s.ledger_id
    LEFT JOIN funds AS f
        ON f.ledger_id = s.ledger_id AND f.entry_type = s.entry_type AND f.psp_reference = s.psp_reference
    WHERE CASE WHEN f.funds_entries IS NULL
               -- NOT_SETTLED
               THEN s.business_date <= l.latest_ledger_date - $grace
               -- SETTLEMENT_AMOUNT_MISMATCH
               ELSE abs(s.amount - f.settled_abs) > $tolerance END
), checked AS (
    SELECT x.code, s.*, x.latest_ledger_date, x.settled_amount, x.ledger_date, x.funds_entries, x.settled_abs
    FROM sales AS s
    JOIN failing AS x
        ON x.ledger_id = s.ledger_id AND x.entry_type = s.entry_type AND x.psp_reference = s.psp_reference
       AND x.amount IS NOT DISTINCT FROM s.amount AND x.business_date = s.business_date
)
SELECT code, entry_key, ledger_id, entry_type, psp_reference, reference, currency, payment_type, amount,
       settled_amount, amount - coalesce(settled_abs, 0) AS difference, ledger_date, business_date,
       CASE code
           WHEN 'NOT_SETTLED' THEN
               'Vipps ' || entry_type || ' of ' || money(amount, currency) || ' on ' || CAST(business_date AS VARCHAR)
               || ' (pspReference ' || psp_reference || ', reference ' || coalesce(reference, '-') || ', '
               || coalesce(payment_type, 'no payment type') || ') has no entry in ledger ' || ledger_id
               || '''s funds (Report API), although those are landed up to ledger date '
               || CAST(latest_ledger_date AS VARCHAR) || ', ' || CAST(latest_ledger_date - business_date AS VARCHAR)
               || ' days later (grace ' || CAST($grace AS VARCHAR) || ' days): the money has not been settled'
           ELSE
               'Vipps ' || entry_type || ' of ' || money(amount, currency) || ' on ' || CAST(business_date AS VARCHAR)
               || ' (pspReference ' || psp_reference || ', reference ' || coalesce(reference, '-') || ') was settled in ledger '
               || ledger_id || '''s funds for ' || money(settled_abs, currency) || ' on ledger date '
               || CAST(ledger_date AS VARCHAR)
               || (CASE WHEN funds_entries > 1 THEN ' (' || CAST(funds_entries AS VARCHAR) || ' funds entries)' ELSE '' END)
               || ', a difference of ' || money(amount - settled_abs, currency)
       END AS explanation
FROM checked
