"""The landed tables: their Arrow schemas, natural keys and partition column.

Money columns are BIGINT minor units with the currency beside them; timestamps are UTC; IDs are
strings. Every table also carries the landing columns in ``LANDING``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")
S = pa.string()
I = pa.int64()
B = pa.bool_()

LANDING = [
    pa.field("_source", S, nullable=False),
    pa.field("_run_id", S, nullable=False),
    pa.field("_landed_at", TS, nullable=False),
    pa.field("_row_id", S, nullable=False),  # unique per landed row: "<run_id>:<seq>"
    pa.field("_hash", S, nullable=False),  # content hash of the record without its personal fields
    pa.field("_raw", S, nullable=False),  # the record's JSON as sent, personal fields removed unless land_pii
]


@dataclass(frozen=True)
class Table:
    name: str
    source: str
    fields: list[pa.Field]
    key: tuple[str, ...]  # natural key: one row per key in the views (latest version)
    parent: str | None = None  # child rows belong to one landed version of the parent
    partition: str = "business_date"
    amount: str | None = None  # the money column the Control sheet sums per currency

    @property
    def schema(self) -> pa.Schema:
        parent = [pa.field("_parent_row_id", S, nullable=False)] if self.parent else []
        return pa.schema([*self.fields, pa.field(self.partition, pa.date32()), *parent, *LANDING])


def f(name: str, kind: pa.DataType) -> pa.Field:
    return pa.field(name, kind)


# A Report API entry (funds or fees feed). Entries have no id of their own: ``entry_key`` is a
# hash of the fields that identify one (docs/data-dictionary.md), so a re-pulled entry lands under
# the same key. ``feed_seq`` is its position in the ledger's feed (0, 1, ... in feed order; NULL
# when it came from a by-date listing), ``date_seq`` its position within its ledger date's
# by-date listing (NULL when it came from the feed).
REPORT_ENTRY = [
    pa.field("entry_key", S), pa.field("ledger_id", S), pa.field("entry_type", S), pa.field("psp_reference", S),
    pa.field("reference", S), pa.field("time", TS), pa.field("ledger_date", pa.date32()), pa.field("currency", S),
    pa.field("amount", I), pa.field("balance_before", I), pa.field("balance_after", I),
    pa.field("recipient_handle", S), pa.field("feed_seq", I), pa.field("date_seq", I), pa.field("feed_cursor", S),
    pa.field("business_tz", S),
]

TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        Table("vipps_sales_entries", "vipps", [
            f("entry_key", S), f("ledger_id", S), f("entry_type", S), f("time", TS), f("order_date", TS),
            f("psp_reference", S), f("reference", S), f("currency", S), f("payment_type", S),
            f("solution", S), f("sales_category", S), f("gross", I), f("net", I), f("vat", I),
            f("line_count", I), f("has_line_items", B), f("has_vat_breakdown", B),
            f("has_customer_identity", B), f("business_tz", S),
        ], key=("entry_key", "_hash"), amount="gross"),
        Table("vipps_sales_lines", "vipps", [
            f("entry_key", S), f("ledger_id", S), f("psp_reference", S), f("reference", S),
            f("entry_type", S), f("currency", S), f("line_no", I), f("line_id", S), f("name", S),
            f("quantity", pa.decimal128(18, 6)), f("unit_price_gross", I), f("unit_price_net", I),
            f("discount_total", I), f("line_total_gross", I), f("line_total_net", I),
            f("vat_rate_bp", I), f("vat_amount", I), f("category", S),
        ], key=("entry_key", "line_no"), parent="vipps_sales_entries", amount="line_total_gross"),
        Table("vipps_ledgers", "vipps_report", [
            f("ledger_id", S), f("currency", S), f("payout_account_scheme", S), f("payout_account_id", S),
            f("owner_scheme", S), f("owner_id", S), f("recipient_handles", S), f("sales_units", S),
        ], key=("ledger_id", "_hash"), partition="listed_date"),
        Table("vipps_funds_entries", "vipps_report", REPORT_ENTRY, key=("entry_key",), amount="amount"),
        Table("vipps_fees_entries", "vipps_report", REPORT_ENTRY, key=("entry_key",), amount="amount"),
        Table("entur_payments", "entur", [
            f("payment_id", S), f("order_id", S), f("order_version", I), f("organisation_id", S),
            f("total_amount", I), f("currency", S), f("created_at", TS), f("updated_at", TS),
            f("customer_number", S), f("active", B), f("transaction_count", I),
        ], key=("payment_id",), amount="total_amount"),
        Table("entur_payment_transactions", "entur", [
            f("payment_id", S), f("transaction_id", S), f("order_id", S), f("order_version", I),
            f("status", S), f("amount", I), f("captured_amount", I), f("credited_amount", I),
            f("remaining_to_capture", I), f("remaining_to_credit", I), f("currency", S),
            f("created_at", TS), f("payment_type", S), f("payment_type_group", S),
            f("external_transaction_id", S), f("rrn", S), f("settlement_id", S), f("card_number", S),
        ], key=("payment_id", "transaction_id"), parent="entur_payments", amount="amount"),
        Table("entur_credits", "entur", [
            f("credit_id", S), f("order_id", S), f("order_version", I), f("organisation_id", S),
            f("total_credit_amount", I), f("currency", S), f("status", S), f("created_at", TS),
            f("updated_at", TS), f("customer_number", S), f("active", B), f("transaction_count", I),
        ], key=("credit_id",), amount="total_credit_amount"),
        Table("entur_credit_transactions", "entur", [
            f("credit_id", S), f("transaction_id", S), f("payment_transaction_id", S), f("order_id", S),
            f("order_version", I), f("credit_status", S), f("status", S), f("amount", I), f("currency", S),
            f("created_at", TS), f("reimbursement_method", S), f("reimbursement_type_group", S),
            f("external_transaction_id", S), f("rrn", S),
        ], key=("credit_id", "transaction_id"), parent="entur_credits", amount="amount"),
        Table("samtrafiken_booking_events", "samtrafiken", [
            f("event_id", S), f("event_time", TS), f("booking_id", S), f("booking_number", S),
            f("status", S), f("organization_code", S), f("producer", S), f("retailer_reference", S),
            f("currency", S), f("total_price", I), f("refund_amount", I), f("cancellation_fee", I),
            f("vat_json", S), f("feed_seq", I),
        ], key=("event_id",), amount="total_price"),
    ]
}

QUARANTINE = pa.schema([
    pa.field("source", S, nullable=False), pa.field("kind", S, nullable=False),
    pa.field("reason_code", S, nullable=False),  # the rule broken, stable: missing_field, bad_time, ...
    pa.field("reason", S, nullable=False), pa.field("record_id", S), pa.field("context", S),
    pa.field("raw", S, nullable=False), pa.field("_hash", S, nullable=False),
    pa.field("_run_id", S, nullable=False), pa.field("_landed_at", TS, nullable=False),
])


# recon_resolutions: what accountants decided about exceptions (recon resolve), append-only. The
# amounts are the exception's when it was resolved: an exception whose amounts change later opens again.
RESOLUTIONS = pa.schema([
    pa.field("exception_id", S, nullable=False), pa.field("resolution", S, nullable=False),
    pa.field("comment", S), pa.field("owner", S),
    pa.field("vipps_amount", I), pa.field("entur_amount", I), pa.field("booking_amount", I),
    pa.field("difference", I),
    pa.field("file_name", S, nullable=False), pa.field("file_sha256", S, nullable=False),
    pa.field("resolved_at", TS, nullable=False), pa.field("seq", I, nullable=False),
])


_DUCK = {
    pa.string(): "VARCHAR", pa.int64(): "BIGINT", pa.bool_(): "BOOLEAN", TS: "TIMESTAMPTZ",
    pa.date32(): "DATE",
}


def duckdb_type(kind: pa.DataType) -> str:
    if pa.types.is_decimal(kind):
        return f"DECIMAL({kind.precision},{kind.scale})"
    return _DUCK[kind]
