"""A realistic bench lake, written in landing's own layout, for bench/reconcile.py (and its smoke test).

``generate(lake, n, days=60)`` writes about ``n`` orders spread evenly over ``days`` business days
(from DAY0): every Vipps source, Entur and Samtrafiken, as recon's nightly runs would have landed
them:

* files ``raw/<table>/business_date=D/part-<run_id>-<nnnnn>.parquet`` with the exact Arrow schemas of
  ``recon.lake.schemas.TABLES`` (the partition column in the path only), zstd, one row group per
  file, at most ``flush_rows`` rows a file (a landing checkpoint); ``_row_id`` is
  ``<run_id>:<seq>``, children point at their parent's ``_row_id``;
* one landing run per night: day D's records land in the run of the night after D;
* re-landed rows: a fraction of the previous day's records (``relanded``, with their children)
  land again in the next night's run, same content and hash (a crash and rerun, a look-back);
* Entur versions: 5 % of the payments first land with an ``AUTHORIZED`` transaction (version 1)
  and again, ``CAPTURED``, as version 2 in the next run;
* Vipps captures (1-3 lines, VAT at 12/25/15/0 %, exact), refunds (negative, with their line),
  partial captures (two captures, one Entur transaction without ``externalTransactionId``: key
  2), mPOS card and cash sales (out of scope), ePayment captures known only to the Report API,
  Entur card-only payments and failed attempts (ignored), Samtrafiken bookings with refund
  events; the Report API's funds feed (captures, refunds, fees retained, a payout closing each
  ledger day, unbroken running balances) and fees feed (a fee per capture), each entry at its
  feed position (``feed_seq``) as landing numbers them: one after another per ledger and feed,
  from the first night on (``gapped=True``: day D's positions start at D × 10^7 instead, so every
  chain has gaps and reconcile takes its sorted path);
* ``plant`` orders in 10,000 planted for each of the 14 mismatch codes (``CODES``).

Every value is computed by DuckDB from the order number (a hash of it), one day at a time, so
generation is vectorised and its memory is bounded by a day. ``answer_key`` says how many rows of
each code a reconcile of a period must find (what the smoke test checks against recon).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path
from typing import Any

DAY0 = date(2026, 3, 2)
LEDGERS = ("7000011", "7000012")
RESERVE = 100_000  # the funds balance a payout leaves behind

CODES = (
    "MISSING_IN_ENTUR", "MISSING_IN_VIPPS", "AMOUNT_MISMATCH", "CURRENCY_MISMATCH", "DUPLICATE",
    "REFUND_WITHOUT_CREDIT", "CREDIT_WITHOUT_REFUND", "VAT_MISMATCH", "BOOKING_NOT_PAID",
    "BOOKING_REFUNDED_NOT_CREDITED", "TIMING_DIFFERENCE", "NOT_SETTLED", "SETTLEMENT_AMOUNT_MISMATCH",
    "BALANCE_BREAK",
)
C = {code: i for i, code in enumerate(CODES)}
PLANT_FROM = 9000  # slots (hash % 10000) from here on carry a planted code
TIMING_DAYS = 5  # a planted TIMING_DIFFERENCE's Entur date, days after the Vipps date (window 3)

# Macros every generated table uses: a landing run (the night after day rd) and its id.
_MACROS = f"""
CREATE OR REPLACE TEMP MACRO landed(rd) AS TIMESTAMPTZ '{DAY0} 02:30:00+00' + to_days(CAST(rd + 1 AS INTEGER));
CREATE OR REPLACE TEMP MACRO run_id(rd) AS strftime(landed(rd),
    '%Y%m%dT%H%M%SZ') || '-b' || lpad(CAST(rd AS VARCHAR), 5, '0');
CREATE OR REPLACE TEMP MACRO day_of(d) AS DATE '{DAY0}' + CAST(d AS INTEGER);
CREATE OR REPLACE TEMP MACRO id10(x) AS lpad(CAST(x AS VARCHAR), 10, '0');
"""

# One row per order of the day: its kind (by slot = hash % 10000) and planted code.
_ORDERS = """
CREATE OR REPLACE TEMP TABLE ord AS
WITH base AS (
    SELECT o, CAST(o // $per_day AS INTEGER) AS d, o % $per_day AS j, hash(o, 7919) AS h
    FROM range($lo, $hi) AS t(o)
), kinds AS (
    SELECT *, CAST(h % 10000 AS INTEGER) AS slot,
           CASE WHEN h % 10000 >= {plant_from} AND h % 10000 < {plant_from} + {n_codes} * $plant
                THEN CAST((h % 10000 - {plant_from}) // $plant AS INTEGER) ELSE -1 END AS code
    FROM base
), flags AS (
    SELECT *,
           slot BETWEEN 300 AND 599 AS mpos, slot BETWEEN 600 AND 699 AS cash, slot BETWEEN 700 AND 999 AS epay,
           slot BETWEEN 1000 AND 1199 AS partial, slot BETWEEN 1200 AND 1499 AS failed_attempt,
           slot BETWEEN 1500 AND 1999 AS versioned, slot BETWEEN 2000 AND 2499 AS card_only,
           slot < 300 OR code IN ({RWC}, {CWR}) AS refunded
    FROM kinds
)
SELECT *,
       NOT (epay OR card_only OR code IN ({MIV}, {BNP})) AS has_sales,
       NOT (mpos OR cash OR code = {MIE}) AS has_entur,
       CASE WHEN partial OR code = {DUP} THEN 2 ELSE 1 END AS n_captures,
       CASE WHEN partial THEN 1 ELSE 1 + CAST((h >> 8) % 10 >= 6 AS INTEGER) + CAST((h >> 8) % 10 >= 9 AS INTEGER)
       END AS lc,
       CASE WHEN o % 2 = 0 THEN '{L1}' ELSE '{L2}' END AS ledger_id,
       'R' || id10(o) AS order_id,
       TIMESTAMPTZ '{day0} 04:00:00+00' + to_days(d) + to_seconds(CAST(j * 50400 // $per_day AS BIGINT)) AS t
FROM flags
"""

# Vipps order lines of every order (emitted below only where the order has them): captures
# (a duplicate's second capture repeats the first; a partial capture's two have a line each)
# and a refund of the first line. Amounts are positive here; refunds are negated when emitted.
_LINES = """
CREATE OR REPLACE TEMP TABLE vl AS
WITH l AS (
    SELECT o.*, e.entry_type, e.entry_no, r.k AS line_k,
           CASE WHEN e.entry_type = 'refund' THEN 2 ELSE e.entry_no END AS eslot,
           hash(o.o, r.k + CASE WHEN o.partial THEN 3 * e.entry_no ELSE 0 END) AS g
    FROM ord AS o
    JOIN (VALUES ('capture', 0), ('capture', 1), ('refund', 0)) AS e(entry_type, entry_no)
        ON (e.entry_type = 'capture' AND e.entry_no < o.n_captures) OR (e.entry_type = 'refund' AND o.refunded)
    JOIN range(3) AS r(k) ON r.k < CASE WHEN e.entry_type = 'refund' THEN 1 ELSE o.lc END
), priced AS (
    SELECT *, CAST(1000 + g % 89000 AS BIGINT) AS gross_abs,
           CASE (g >> 20) % 8 WHEN 5 THEN 2500 WHEN 6 THEN 1500 WHEN 7 THEN 0 ELSE 1200 END AS rate
    FROM l
)
SELECT *,
       (2 * gross_abs * rate + 10000 + rate) // (2 * (10000 + rate))
           + CASE WHEN code = {VAT} AND entry_type = 'capture' AND entry_no = 0 AND line_k = 0 THEN 5 ELSE 0 END
           AS vat_abs,
       CASE WHEN cash THEN NULL WHEN entry_type = 'refund' THEN '2' || id10(o)
            WHEN entry_no = 1 THEN '3' || id10(o) ELSE '1' || id10(o) END AS psp,
       t + to_minutes(10 * entry_no) + CASE WHEN entry_type = 'refund' THEN INTERVAL 2 HOUR ELSE INTERVAL 0 HOUR END
           AS ats
FROM priced
"""

# Per order: the captured total (a duplicate counts once), the refunded amount, the refund time.
_TOTALS = """
CREATE OR REPLACE TEMP TABLE ot AS
SELECT o, CAST(sum(gross_abs) FILTER (WHERE entry_type = 'capture' AND (entry_no = 0 OR partial)) AS BIGINT) AS total,
       CAST(sum(gross_abs) FILTER (WHERE entry_type = 'refund') AS BIGINT) AS refund_abs,
       min(ats) FILTER (WHERE entry_type = 'refund') AS refund_at
FROM vl GROUP BY o
"""

# The Vipps entries (captures and refunds) and the funds entries they settle as.
_ENTRIES = """
CREATE OR REPLACE TEMP TABLE ve AS
SELECT o, d, code, ledger_id, order_id, entry_type, entry_no, eslot, psp, min(ats) AS ats,
       any_value(has_sales) AS has_sales, any_value(epay) AS epay, any_value(mpos) AS mpos,
       any_value(cash) AS cash, any_value(refunded) AS refunded,
       CAST(sum(gross_abs) AS BIGINT) AS gross_abs, CAST(sum(vat_abs) AS BIGINT) AS vat_abs, count(*) AS lines
FROM vl GROUP BY ALL
"""

_LANDING = """'{source}' AS _source, run_id(_rd) AS _run_id, landed(_rd) AS _landed_at,
       run_id(_rd) || ':' || CAST({seq} AS VARCHAR) AS _row_id, md5(_raw) AS _hash"""

# table -> (query giving that table's columns, _rd, _o, business_date and _raw)
_DAY_POSITIONS = 10_000_000  # the generator's own numbering: day D's n-th entry of a ledger is D × this + n
_TABLES: dict[str, str] = {
    "vipps_sales_lines": """
        SELECT *, {landing} FROM (
        SELECT l.ledger_id || ':' || coalesce(l.psp, 'h' || md5(l.order_id)) AS entry_key, l.ledger_id,
               l.psp AS psp_reference, l.order_id AS reference, l.entry_type, 'NOK' AS currency,
               CAST(l.line_k + 1 AS BIGINT) AS line_no, CAST(l.o * 9 + l.eslot * 3 + l.line_k AS VARCHAR) AS line_id,
               CASE l.rate WHEN 1200 THEN 'Enkeltbillett' WHEN 0 THEN 'Gavekort' ELSE 'Kiosk' END AS name,
               CAST(1 AS DECIMAL(18, 6)) AS quantity, s * l.gross_abs AS unit_price_gross,
               s * (l.gross_abs - l.vat_abs) AS unit_price_net, CAST(0 AS BIGINT) AS discount_total,
               s * l.gross_abs AS line_total_gross, s * (l.gross_abs - l.vat_abs) AS line_total_net,
               CAST(l.rate AS BIGINT) AS vat_rate_bp, s * l.vat_abs AS vat_amount,
               CASE l.rate WHEN 1200 THEN 'TICKET' WHEN 0 THEN 'GIFT_CARD' ELSE 'KIOSK' END AS category,
               day_of(l.d) AS business_date, l.d AS _rd, l.o AS _o,
               run_id(l.d) || ':' || CAST(CAST(1e13 + l.o * 8 + l.eslot AS BIGINT) AS VARCHAR) AS _parent_row_id,
               CAST(to_json({{lineId: CAST(l.o * 9 + l.eslot * 3 + l.line_k AS VARCHAR),
                   lineTotalGross: s * l.gross_abs,
                              vatRate: l.rate, vatAmount: s * l.vat_abs}}) AS VARCHAR) AS _raw,
               CAST(2e13 + l.o * 32 + l.eslot * 4 + l.line_k AS BIGINT) AS _seq
        FROM (SELECT *, CASE WHEN entry_type = 'refund' THEN -1 ELSE 1 END AS s FROM vl) AS l
        WHERE l.has_sales AND (l.entry_type = 'capture' OR l.code <> {CWR}))
    """,
    "vipps_sales_entries": """
        SELECT *, {landing} FROM (
        SELECT e.ledger_id || ':' || coalesce(e.psp, 'h' || md5(e.order_id)) AS entry_key, e.ledger_id, e.entry_type,
               e.ats AS time, e.ats - INTERVAL 3 MINUTE AS order_date, e.psp AS psp_reference, e.order_id AS reference,
               'NOK' AS currency,
               CASE WHEN e.cash THEN 'CASH' WHEN e.mpos THEN 'CARD' ELSE 'WALLET' END AS payment_type,
               CASE WHEN e.cash OR e.mpos THEN 'MPOS' ELSE 'SHOPPING_BASKET' END AS solution,
               NULL::VARCHAR AS sales_category,
               s * e.gross_abs AS gross, s * (e.gross_abs - e.vat_abs) AS net, s * e.vat_abs AS vat,
               e.lines AS line_count, true AS has_line_items, true AS has_vat_breakdown, false AS has_customer_identity,
               'Europe/Oslo' AS business_tz, day_of(e.d) AS business_date, e.d AS _rd, e.o AS _o,
               CAST(to_json({{entryType: e.entry_type, pspReference: e.psp, reference: e.order_id,
                              time: strftime(e.ats, '%Y-%m-%dT%H:%M:%SZ'),
                              amounts: {{gross: s * e.gross_abs, vat: s * e.vat_abs}}}}) AS VARCHAR) AS _raw,
               CAST(1e13 + e.o * 8 + e.eslot AS BIGINT) AS _seq
        FROM (SELECT *, CASE WHEN entry_type = 'refund' THEN -1 ELSE 1 END AS s FROM ve) AS e
        WHERE e.has_sales AND (e.entry_type = 'capture' OR e.code <> {CWR}))
    """,
    # Funds feed per ledger and day: the captures and refunds that settled, the day's fees retained,
    # and a payout bringing the balance back to RESERVE; running balances in feed order.
    "vipps_funds_entries": """
        WITH moves AS (
            SELECT ledger_id, entry_type, psp, order_id AS reference, ats AS time, d, o, eslot,
                   CASE WHEN entry_type = 'refund' THEN -gross_abs ELSE gross_abs END
                       - CASE WHEN code = {SAM} AND entry_type = 'capture' AND entry_no = 0 THEN 50 ELSE 0 END
                       AS amount,
                   code = {BB} AND entry_type = 'capture' AND entry_no = 0 AS broken
            FROM ve
            WHERE (has_sales OR epay) AND psp IS NOT NULL AND (entry_type = 'capture' OR code <> {CWR})
              AND NOT (code = {NS} AND entry_type = 'capture' AND entry_no = 0)
        ), fees AS (
            SELECT ledger_id, d, CAST(sum({fee}) AS BIGINT) AS fees FROM moves WHERE entry_type = 'capture' GROUP BY ALL
        ), closing AS (
            SELECT f.ledger_id, 'fees-retained' AS entry_type, f.ledger_id || '-fr-' || f.d AS psp,
                   NULL::VARCHAR AS reference, TIMESTAMPTZ '{day0} 20:50:00+00' + to_days(f.d) AS time, f.d,
                   -1 AS o, 0 AS eslot, -f.fees AS amount, false AS broken
            FROM fees AS f
        ), day AS (
            SELECT * FROM moves UNION ALL SELECT * FROM closing
        ), run AS (
            SELECT *, CAST(sum(amount) OVER w AS BIGINT) AS moved,
                   row_number() OVER w AS n
            FROM day WINDOW w AS (PARTITION BY ledger_id, d ORDER BY time, psp
                                  ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        ), payouts AS (
            SELECT ledger_id, 'payout-scheduled' AS entry_type, ledger_id || '-' || d AS psp,
                'payout-' || d AS reference,
                   TIMESTAMPTZ '{day0} 21:00:00+00' + to_days(d) AS time, d, -1 AS o, 1 AS eslot,
                   -arg_max(moved, n) AS amount, false AS broken, max(n) + 1 AS n, CAST(0 AS BIGINT) AS moved
            FROM run GROUP BY ledger_id, d
        ), chain AS (
            SELECT ledger_id, entry_type, psp, reference, time, d, o, eslot, amount, broken, n,
                   {reserve} + moved - amount AS before, {reserve} + moved AS after FROM run
            UNION ALL
            SELECT ledger_id, entry_type, psp, reference, time, d, o, eslot, amount, broken, n,
                   {reserve} - amount, {reserve} FROM payouts
        )
        SELECT *, {landing} FROM (
        SELECT ledger_id || ':f' || psp AS entry_key, ledger_id, entry_type, psp AS psp_reference, reference, time,
               day_of(d) AS ledger_date, 'NOK' AS currency, amount,
               -- A planted break starts 1 øre off and still ends where the chain goes on: one row each.
               before + CASE WHEN broken THEN 1 ELSE 0 END AS balance_before, after AS balance_after,
               CASE WHEN entry_type = 'payout-scheduled' THEN NULL ELSE 'NO:' || ledger_id END AS recipient_handle,
               CAST(d * {DAY_POSITIONS} + n AS BIGINT) AS feed_seq, NULL::BIGINT AS date_seq,
               NULL::VARCHAR AS feed_cursor,
               'Europe/Oslo' AS business_tz, day_of(d) AS business_date, d AS _rd, o AS _o,
               CAST(to_json({{pspReference: psp, entryType: entry_type, time: strftime(time,
                   '%Y-%m-%dT%H:%M:%S.000000Z'),
                              amount: amount, balanceBefore: before, balanceAfter: after}}) AS VARCHAR) AS _raw,
               CAST(3e13 + CASE WHEN o >= 0 THEN o * 8 + eslot ELSE 9e12 + d * 100 + eslot * 10
                   + CAST(ledger_id = '{L2}' AS INTEGER) END AS BIGINT) AS _seq
        FROM chain)
    """,
    "vipps_fees_entries": """
        WITH fees AS (
            SELECT ledger_id, 'capture-fee' AS entry_type, psp, order_id AS reference, ats + INTERVAL 1 SECOND AS time,
                   d, o, -({fee}) AS amount
            FROM (SELECT *, gross_abs - CASE WHEN code = {SAM} AND entry_no = 0 THEN 50 ELSE 0 END AS amount FROM ve)
            WHERE (has_sales OR epay) AND psp IS NOT NULL AND entry_type = 'capture'
              AND NOT (code = {NS} AND entry_no = 0)
        ), run AS (
            SELECT *, CAST(sum(amount) OVER w AS BIGINT) AS moved, row_number() OVER w AS n
            FROM fees WINDOW w AS (PARTITION BY ledger_id, d ORDER BY time, psp
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
        ), chain AS (
            SELECT ledger_id, entry_type, psp, reference, time, d, o, amount, n, moved - amount AS before,
                   moved AS after FROM run
            UNION ALL
            SELECT ledger_id, 'fees-retained', ledger_id || '-fr-' || d, NULL,
                TIMESTAMPTZ '{day0} 20:50:00+00' + to_days(d),
                   d, -1, -arg_max(moved, n), max(n) + 1, arg_max(moved, n), 0
            FROM run GROUP BY ledger_id, d
        )
        SELECT *, {landing} FROM (
        SELECT ledger_id || ':fee' || psp AS entry_key, ledger_id, entry_type, psp AS psp_reference, reference, time,
               day_of(d) AS ledger_date, 'NOK' AS currency, CAST(amount AS BIGINT) AS amount,
               CAST(before AS BIGINT) AS balance_before, CAST(after AS BIGINT) AS balance_after,
               NULL::VARCHAR AS recipient_handle, CAST(d * {DAY_POSITIONS} + n AS BIGINT) AS feed_seq,
                   NULL::BIGINT AS date_seq,
               NULL::VARCHAR AS feed_cursor, 'Europe/Oslo' AS business_tz, day_of(d) AS business_date,
                   d AS _rd, o AS _o,
               CAST(to_json({{pspReference: psp, entryType: entry_type, amount: amount}}) AS VARCHAR) AS _raw,
               CAST(9e13 + CASE WHEN o >= 0 THEN o
                                ELSE 9e12 + d * 10 + CAST(ledger_id = '{L2}' AS INTEGER) END AS BIGINT) AS _seq
        FROM chain)
    """,
    # Entur payment transactions: the main one (Vipps, or a bank card for card-only orders) and a
    # failed attempt before it for some; version 1 (AUTHORIZED) and 2 (CAPTURED) for versioned ones.
    "entur_payment_transactions": """
        SELECT *, {landing} FROM (
        SELECT p.payment_id, p.transaction_id, p.order_id, p.ver AS order_version, p.status, p.amount,
               CASE WHEN p.status = 'CAPTURED' THEN p.amount END AS captured_amount, NULL::BIGINT AS credited_amount,
               NULL::BIGINT AS remaining_to_capture, NULL::BIGINT AS remaining_to_credit, p.currency, p.created_at,
               p.method AS payment_type,
                   CASE WHEN p.method = 'VIPPS' THEN 'MOBILE' ELSE 'CARD' END AS payment_type_group,
               p.ext AS external_transaction_id, NULL::VARCHAR AS rrn, NULL::VARCHAR AS settlement_id,
               NULL::VARCHAR AS card_number, p.business_date, p._rd, p._o,
               run_id(p._rd) || ':' || CAST(CAST(4e13 + p._o * 2 + p.ver - 1 AS BIGINT) AS VARCHAR) AS _parent_row_id,
               CAST(to_json({{transactionId: p.transaction_id, status: p.status, amount: p.amount, currency: p.currency,
                              externalTransactionId: p.ext, orderVersion: p.ver}}) AS VARCHAR) AS _raw,
               CAST(5e13 + p._o * 8 + p.tx_no * 2 + p.ver - 1 AS BIGINT) AS _seq
        FROM entur_tx AS p)
    """,
    "entur_payments": """
        SELECT *, {landing} FROM (
        SELECT payment_id, order_id, ver AS order_version, '1' AS organisation_id, max(amount) AS total_amount,
               any_value(currency) AS currency, min(created_at) AS created_at,
               min(created_at) + to_days(CAST(ver - 1 AS INTEGER)) + INTERVAL 1 MINUTE AS updated_at,
                   NULL::VARCHAR AS customer_number,
               true AS active, count(*) AS transaction_count, min(business_date) AS business_date, min(_rd) AS _rd, _o,
               CAST(to_json({{paymentId: payment_id, orderId: order_id, orderVersion: ver}}) AS VARCHAR)
                   || md5(string_agg(status, ',')) AS _raw,
               CAST(4e13 + _o * 2 + ver - 1 AS BIGINT) AS _seq
        FROM entur_tx GROUP BY payment_id, order_id, ver, _o)
    """,
    "entur_credit_transactions": """
        SELECT *, {landing} FROM (
        SELECT c.credit_id, c.transaction_id, c.payment_transaction_id, c.order_id, CAST(1 AS BIGINT) AS order_version,
               'CREDITED' AS credit_status, 'CREDITED' AS status, c.amount, 'NOK' AS currency, c.created_at,
               'VIPPS' AS reimbursement_method, 'MOBILE' AS reimbursement_type_group, c.ext AS external_transaction_id,
               NULL::VARCHAR AS rrn, c.business_date, c._rd, c._o,
               run_id(c._rd) || ':' || CAST(CAST(6e13 + c._o AS BIGINT) AS VARCHAR) AS _parent_row_id,
               CAST(to_json({{transactionId: c.transaction_id, amount: c.amount,
                   externalTransactionId: c.ext}}) AS VARCHAR)
                   AS _raw,
               CAST(7e13 + c._o AS BIGINT) AS _seq
        FROM entur_cr AS c)
    """,
    "entur_credits": """
        SELECT *, {landing} FROM (
        SELECT credit_id, order_id, CAST(1 AS BIGINT) AS order_version, '1' AS organisation_id,
               amount AS total_credit_amount, 'NOK' AS currency, 'CREDITED' AS status, created_at,
               created_at + INTERVAL 1 MINUTE AS updated_at, NULL::VARCHAR AS customer_number, true AS active,
               CAST(1 AS BIGINT) AS transaction_count, business_date, _rd, _o,
               CAST(to_json({{creditId: credit_id, orderId: order_id, totalCreditAmount: amount}}) AS VARCHAR) AS _raw,
               CAST(6e13 + _o AS BIGINT) AS _seq
        FROM entur_cr)
    """,
    "samtrafiken_booking_events": """
        SELECT *, {landing} FROM (
        SELECT 'E' || id10(o) || '-' || n AS event_id, event_time, 'B' || id10(o) AS booking_id,
               'SJ' || id10(o) AS booking_number, status, 'RET1' AS organization_code, 'SJ' AS producer,
               order_id AS retailer_reference, 'NOK' AS currency, total AS total_price, refund_amount,
               NULL::BIGINT AS cancellation_fee, '[]' AS vat_json,
               CAST(d * 10000000 + row_number() OVER (ORDER BY event_time, o, n) AS BIGINT) AS feed_seq,
               day_of(d) AS business_date, d AS _rd, o AS _o,
               CAST(to_json({{eventId: 'E' || id10(o) || '-' || n, status: status, retailerReference: order_id,
                              totalPrice: total, refundAmount: refund_amount}}) AS VARCHAR) AS _raw,
               CAST(8e13 + o * 4 + n AS BIGINT) AS _seq
        FROM booking_events)
    """,
}

# Helpers for the Entur and Samtrafiken tables (built once per day, before the tables above).
_ENTUR = """
CREATE OR REPLACE TEMP TABLE entur_tx AS
WITH p AS (
    SELECT o.*, ot.total, v.ver
    FROM ord AS o JOIN ot USING (o)
    JOIN (VALUES (1), (2)) AS v(ver) ON v.ver = 1 OR o.versioned
    WHERE o.has_entur
), tx AS (
    SELECT p.*, x.tx_no FROM p JOIN (VALUES (0), (1)) AS x(tx_no) ON x.tx_no = 0 OR p.failed_attempt
)
SELECT CAST(1000000000 + o AS VARCHAR) AS payment_id, CAST(5000000000 + o * 2 + tx_no AS VARCHAR) AS transaction_id,
       order_id, CAST(ver AS BIGINT) AS ver, tx_no, o AS _o,
       CASE WHEN tx_no = 1 OR code = {BNP} THEN 'FAILED' WHEN versioned AND ver = 1 THEN 'AUTHORIZED'
            ELSE 'CAPTURED' END AS status,
       total + CASE WHEN code = {AMT} THEN 100 ELSE 0 END AS amount,
       CASE WHEN code = {CUR} THEN 'SEK' ELSE 'NOK' END AS currency,
       CASE WHEN card_only THEN 'BANKCARD' ELSE 'VIPPS' END AS method,
       CASE WHEN partial OR card_only OR tx_no = 1 THEN NULL ELSE '1' || id10(o) END AS ext,
       t + to_minutes(4 + 1 - tx_no) + to_days(CASE WHEN code = {TIM} THEN {timing} ELSE 0 END) AS created_at,
       day_of(d + CASE WHEN code = {TIM} THEN {timing} ELSE 0 END) AS business_date,
       d + ver - 1 AS _rd
FROM tx;
CREATE OR REPLACE TEMP TABLE entur_cr AS
SELECT CAST(2000000000 + o.o AS VARCHAR) AS credit_id, CAST(6000000000 + o.o AS VARCHAR) AS transaction_id,
       CAST(5000000000 + o.o * 2 AS VARCHAR) AS payment_transaction_id, o.order_id, ot.refund_abs AS amount,
       '2' || id10(o.o) AS ext, ot.refund_at + INTERVAL 5 MINUTE AS created_at, day_of(o.d) AS business_date,
       o.d AS _rd, o.o AS _o
FROM ord AS o JOIN ot USING (o)
WHERE o.refunded AND o.code <> {RWC} AND o.has_entur;
CREATE OR REPLACE TEMP TABLE booking_events AS
WITH b AS (
    SELECT o.*, ot.total, ot.refund_abs, ot.refund_at FROM ord AS o JOIN ot USING (o)
    WHERE (o.has_entur AND (o.h >> 30) % 2 = 0) OR o.code IN ({BNP}, {BRNC})
)
SELECT o, d, order_id, total, 0 AS n, 'FULFILLED' AS status, NULL::BIGINT AS refund_amount,
       t + INTERVAL 30 MINUTE AS event_time FROM b
UNION ALL
SELECT o, d, order_id, total, 1, 'REFUNDED', coalesce(refund_abs, total // 2),
       coalesce(refund_at, t + INTERVAL 1 HOUR) + INTERVAL 10 MINUTE FROM b
WHERE (refunded AND code <> {RWC}) OR code = {BRNC}
"""

# A capture's fee: 1.75 % plus 1 NOK (positive here; the fees feed books it negative).
_FEE = "(abs(amount) * 175 // 10000 + 100)"


def _fill(sql: str) -> str:
    names = {"MIE": "MISSING_IN_ENTUR", "MIV": "MISSING_IN_VIPPS", "AMT": "AMOUNT_MISMATCH",
             "CUR": "CURRENCY_MISMATCH", "DUP": "DUPLICATE", "RWC": "REFUND_WITHOUT_CREDIT",
             "CWR": "CREDIT_WITHOUT_REFUND", "VAT": "VAT_MISMATCH", "BNP": "BOOKING_NOT_PAID",
             "BRNC": "BOOKING_REFUNDED_NOT_CREDITED", "TIM": "TIMING_DIFFERENCE", "NS": "NOT_SETTLED",
             "SAM": "SETTLEMENT_AMOUNT_MISMATCH", "BB": "BALANCE_BREAK"}
    return sql.format(**{k: C[v] for k, v in names.items()}, plant_from=PLANT_FROM, n_codes=len(CODES),
                      L1=LEDGERS[0], L2=LEDGERS[1], day0=DAY0.isoformat(), reserve=RESERVE, fee=_FEE,
                      timing=TIMING_DAYS, DAY_POSITIONS=_DAY_POSITIONS, landing="{landing}")


SOURCES = {"vipps_sales_lines": "vipps", "vipps_sales_entries": "vipps", "vipps_funds_entries": "vipps_report",
           "vipps_fees_entries": "vipps_report", "entur_payment_transactions": "entur", "entur_payments": "entur",
           "entur_credit_transactions": "entur", "entur_credits": "entur", "samtrafiken_booking_events": "samtrafiken"}


def _table_sql(name: str) -> str:
    landing = _LANDING.format(source=SOURCES[name], seq="_seq")
    return _fill(_TABLES[name]).replace("{landing}", landing)


class _Writer:
    """Files as Landing writes them: per table, run and partition, at most flush_rows rows a file,
    one row group each, numbered per run (part-<run_id>-<nnnnn>.parquet)."""

    def __init__(self, lake: Path, flush_rows: int) -> None:
        self.lake = lake
        self.flush_rows = flush_rows
        self.files: dict[str, int] = defaultdict(int)
        self.rows: dict[str, int] = defaultdict(int)

    def write(self, name: str, table: Any) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        from recon.lake.schemas import TABLES

        spec = TABLES[name]
        schema = pa.schema([f for f in spec.schema if f.name != spec.partition])
        keys = pc.unique(pc.binary_join_element_wise(
            table.column("_run_id"), pc.cast(table.column(spec.partition), pa.string()), "|")).to_pylist()
        for key in sorted(keys):
            run, day = key.split("|")
            mask = pc.and_(pc.equal(table.column("_run_id"), run),
                           pc.equal(table.column(spec.partition), pa.scalar(date.fromisoformat(day))))
            part = table.filter(mask).select(schema.names).cast(schema)
            folder = self.lake / "raw" / name / f"{spec.partition}={day}"
            folder.mkdir(parents=True, exist_ok=True)
            for start in range(0, part.num_rows, self.flush_rows):
                chunk = part.slice(start, self.flush_rows)
                self.files[run] += 1
                final = folder / f"part-{run}-{self.files[run]:05d}.parquet"
                tmp = folder / f".{final.name}.tmp"
                pq.write_table(chunk, tmp, compression="zstd", row_group_size=max(chunk.num_rows, 1))
                os.replace(tmp, final)
            self.rows[name] += part.num_rows


_FEEDS = ("vipps_funds_entries", "vipps_fees_entries")
def _landing_positions(table: Any, next_position: dict[str, int]) -> Any:
    """``table`` (one day of a feed) with each entry's ``feed_seq`` as landing numbers a feed: the
    ledger's next position on, in the day's order (``next_position``: per ledger, moved on)."""
    import numpy as np
    import pyarrow as pa

    n = table.column("feed_seq").to_numpy() % _DAY_POSITIONS
    ledgers = np.array(table.column("ledger_id").to_pylist(), dtype=object)
    base = np.array([next_position.get(ledger, 0) for ledger in ledgers], dtype=np.int64)
    for ledger in set(ledgers.tolist()):
        next_position[ledger] = next_position.get(ledger, 0) + int(n[ledgers == ledger].max())
    return table.set_column(table.schema.get_field_index("feed_seq"), "feed_seq", pa.array(base + n, pa.int64()))


def generate(lake: Path, n: int, *, days: int = 60, plant: int = 8, relanded: float = 0.02,
             flush_rows: int = 100_000, gapped: bool = False) -> dict[str, int]:
    """Write the lake (see the module docstring); returns the rows landed per table."""
    import duckdb

    if days < 1 or n < days:
        raise ValueError("need at least one order a day")
    per_day = -(-n // days)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET preserve_insertion_order = false")
    for stmt in _MACROS.strip().split(";\n"):
        con.execute(stmt)
    writer = _Writer(lake, flush_rows)
    previous: dict[str, Any] = {}
    positions: dict[str, dict[str, int]] = {name: {} for name in _FEEDS}
    relanded_bp = int(relanded * 10_000)
    for d in range(days):
        lo, hi = d * per_day, min(n, (d + 1) * per_day)
        params = {"lo": lo, "hi": hi, "per_day": per_day, "plant": plant}
        con.execute(_fill(_ORDERS), params)
        for sql in (_LINES, _TOTALS, _ENTRIES, _ENTUR):
            for stmt in _fill(sql).strip().split(";\n"):
                con.execute(stmt, {k: v for k, v in params.items() if f"${k}" in stmt})
        current = {}
        for name in _TABLES:
            table = con.sql(_table_sql(name)).to_arrow_table()
            if name in _FEEDS and not gapped:
                table = _landing_positions(table, positions[name])
            writer.write(name, table)
            current[name] = table
        # Re-landed: some of yesterday's records (with their children) land again tonight, as
        # they were (same content and hash), under tonight's run: a rerun after a crash, a look-back.
        for name, table in previous.items():
            con.register("previous_day", table)
            parent = ("run_id($rd) || ':' || split_part(_parent_row_id, ':', 2) AS _parent_row_id, "
                      if "_parent_row_id" in table.column_names else "")
            copy = con.sql(f"""
                SELECT * REPLACE (run_id($rd) AS _run_id, landed($rd) AS _landed_at, {parent}
                                  run_id($rd) || ':' || split_part(_row_id, ':', 2) AS _row_id)
                FROM previous_day WHERE _rd = $rd - 1 AND hash(_o, 77) % 10000 < {relanded_bp}
            """.replace("$rd", str(d))).to_arrow_table()
            con.unregister("previous_day")
            writer.write(name, copy)
        previous = current
    con.close()
    return dict(writer.rows)


def answer_key(n: int, days: int, period: tuple[int, int], *, plant: int = 8, window: int = 3) -> dict[str, int]:
    """The rows of each code that reconciling days ``period`` (first, last: day numbers) must give.

    Each planted order gives one row of its code on its day, except: a planted
    TIMING_DIFFERENCE whose Entur side falls beyond the read window is a MISSING_IN_ENTUR (Vipps
    side in the period) or a MISSING_IN_VIPPS (Entur side in the period, Vipps before the window).
    """
    import duckdb

    per_day = -(-n // days)
    first, last = period
    con = duckdb.connect()
    rows = con.execute(f"""
        SELECT CAST(o // {per_day} AS INTEGER) AS d,
               CAST((h % 10000 - {PLANT_FROM}) // {plant} AS INTEGER) AS code, count(*)
        FROM (SELECT o, hash(o, 7919) AS h FROM range({n}) AS t(o))
        WHERE h % 10000 >= {PLANT_FROM} AND h % 10000 < {PLANT_FROM} + {len(CODES)} * {plant}
        GROUP BY ALL
    """).fetchall()
    con.close()
    want: dict[str, int] = dict.fromkeys(CODES, 0)
    for d, code, count in rows:
        name = CODES[code]
        if name == "TIMING_DIFFERENCE":
            entur_day = d + TIMING_DAYS
            if first <= d <= last and entur_day <= last + window:
                want[name] += count
            elif first <= d <= last:
                want["MISSING_IN_ENTUR"] += count
            elif d < first - window and first <= entur_day <= last:
                want["MISSING_IN_VIPPS"] += count
        elif first <= d <= last:
            want[name] += count
    return want


def period_days(days: int, period: int) -> tuple[int, int]:
    """The period reconciled: ``period`` days in the middle of the lake, so that the read window
    (and the Report API's 31-day span) has days on both sides to leave out."""
    period = max(1, min(period, days))
    first = (days - period) // 2
    return first, first + period - 1


def day(d: int) -> date:
    return DAY0 + timedelta(days=d)


def write_key(lake: Path, key: dict[str, int]) -> None:
    (lake / "bench_answer_key.json").write_text(json.dumps(key, indent=1) + "\n", encoding="utf-8")
