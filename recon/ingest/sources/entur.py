"""Entur Sales API: payments and credits with their transactions, page-numbered.

Records change after creation (a transaction is captured, a credit is credited), so each pull
asks for everything changed since the stored watermark minus a look-back window, and the views
keep each record's latest landed version.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from recon.config import EnturConfig
from recon.errors import HttpStatusError
from recon.ingest import columnar
from recon.ingest.paging import Getter, numbered_pages
from recon.ingest.personal import PERSONAL_FIELDS
from recon.ingest.records import EncodedPage, Parsed, Progress, land_page
from recon.ingest.validation import ISO_4217, BadValue, boolean, currency, ident, integer, req, text, timestamp
from recon.lake.landing import Landing, canonical_json_plain
from recon.lake.store import Lake
from recon.money import MoneyError, parse_minor
from recon.timeutil import business_date

log = logging.getLogger("recon.entur")


def _money(obj: dict[str, Any], key: str, where: str, *, required: bool = False) -> int | None:
    value = obj.get(key)
    if value is None or value == "":
        if required:
            raise BadValue("missing_field", f"missing {where}{key}")
        return None
    try:
        return parse_minor(value)
    except MoneyError as exc:
        raise BadValue(exc.code, f"{where}{key}: {exc}") from None


def _upper(value: Any, field: str) -> str | None:
    got = text(value, field, max_len=100)
    return got.upper() if got else None


def normalise_payment(record: Any, raw: str, tz: str) -> Parsed:
    if not isinstance(record, dict):
        raise BadValue("bad_shape", "payment is not a JSON object")
    payment_id = ident(req(record, "paymentId"), "paymentId")
    order_id = ident(record.get("orderId"), "orderId")
    cur = currency(record.get("currency"), default="NOK")
    created = timestamp(record.get("createdAt"), "createdAt")
    assert created is not None
    txs = record.get("transactionHistory")
    if txs is None:
        txs = record.get("transactions")
    if txs is None:
        txs = []
    if not isinstance(txs, list):
        raise BadValue("bad_shape", "transactionHistory is not a list")
    order_version = integer(record.get("orderVersion"), "orderVersion")
    row = {
        "payment_id": payment_id, "order_id": order_id, "order_version": order_version,
        "organisation_id": ident(record.get("organisationId"), "organisationId", required=False),
        "total_amount": _money(record, "totalAmount", ""), "currency": cur, "created_at": created,
        "updated_at": timestamp(record.get("updatedAt"), "updatedAt", required=False),
        "customer_number": ident(record.get("customerNumber"), "customerNumber", required=False),
        "active": boolean(record.get("active"), "active"), "transaction_count": len(txs),
        "business_date": business_date(created, tz),
    }
    children = []
    for i, tx in enumerate(txs):
        if not isinstance(tx, dict):
            raise BadValue("bad_shape", f"transaction {i + 1} is not an object")
        where = f"transaction {tx.get('transactionId', i + 1)} "
        summary = tx.get("summary") or {}
        if not isinstance(summary, dict):
            raise BadValue("bad_shape", f"{where}summary is not an object")
        tx_created = timestamp(tx.get("createdAt"), "transaction createdAt", required=False) or created
        captured = _money(summary, "capturedAmount", where + "summary.")
        amount = _money(tx, "amount", where)
        if amount is None and captured is None:
            raise BadValue("missing_field", f"missing {where}amount")
        children.append(({
            "payment_id": payment_id, "transaction_id": ident(tx.get("transactionId"), "transactionId"),
            "order_id": order_id, "order_version": order_version,
            "status": _upper(tx.get("status"), "transaction status") or _missing(where + "status"),
            "amount": amount, "captured_amount": captured,
            "credited_amount": _money(summary, "creditedAmount", where + "summary."),
            "remaining_to_capture": _money(summary, "remainingAmountToCapture", where + "summary."),
            "remaining_to_credit": _money(summary, "remainingAmountToCredit", where + "summary."),
            "currency": currency(tx.get("currency"), "transaction currency", default=cur),
            "created_at": tx_created,
            "payment_type": _upper(tx.get("paymentType"), "paymentType"),
            "payment_type_group": _upper(tx.get("paymentTypeGroup"), "paymentTypeGroup"),
            "external_transaction_id": ident(tx.get("externalTransactionId"), "externalTransactionId",
                                             required=False),
            "rrn": ident(tx.get("rrn"), "rrn", required=False),
            "settlement_id": ident(tx.get("settlementId"), "settlementId", required=False),
            "card_number": text(tx.get("cardNumber"), "cardNumber", max_len=64),
            "business_date": business_date(tx_created, tz),
        }, tx))
    return Parsed("entur_payments", row, {"entur_payment_transactions": children} if children else {})


def _missing(what: str) -> str:
    raise BadValue("missing_field", f"missing {what}")


def normalise_credit(record: Any, raw: str, tz: str) -> Parsed:
    if not isinstance(record, dict):
        raise BadValue("bad_shape", "credit is not a JSON object")
    credit_id = ident(req(record, "creditId"), "creditId")
    order_id = ident(record.get("orderId"), "orderId")
    cur = currency(record.get("currency"), default="NOK")
    txs = record.get("creditTransactions") or []
    if not isinstance(txs, list):
        raise BadValue("bad_shape", "creditTransactions is not a list")
    created = timestamp(record.get("createdAt"), "createdAt", required=False)
    tx_times = []
    for tx in txs:
        if isinstance(tx, dict):
            t = timestamp(tx.get("createdAt"), "credit transaction createdAt", required=False)
            if t:
                tx_times.append(t)
    updated = timestamp(record.get("updatedAt"), "updatedAt", required=False)
    # createdAt on a credit is inferred, not documented: a credit without it is dated by its first
    # transaction, then by its updatedAt, and quarantined only when it has none of them.
    dated = created or (min(tx_times) if tx_times else None) or updated
    if dated is None:
        raise BadValue("missing_field", "missing createdAt (on the credit and on all its transactions) and "
                                        "updatedAt")
    order_version = integer(record.get("orderVersion"), "orderVersion")
    status = _upper(record.get("status"), "credit status")
    row = {
        "credit_id": credit_id, "order_id": order_id, "order_version": order_version,
        "organisation_id": ident(record.get("organisationId"), "organisationId", required=False),
        "total_credit_amount": _money(record, "totalCreditAmount", ""), "currency": cur,
        "status": status, "created_at": created,
        "updated_at": updated,
        "customer_number": ident(record.get("customerNumber"), "customerNumber", required=False),
        "active": boolean(record.get("active"), "active"), "transaction_count": len(txs),
        "business_date": business_date(dated, tz),
    }
    children = []
    for i, tx in enumerate(txs):
        if not isinstance(tx, dict):
            raise BadValue("bad_shape", f"credit transaction {i + 1} is not an object")
        where = f"credit transaction {tx.get('transactionId', i + 1)} "
        tx_created = timestamp(tx.get("createdAt"), "credit transaction createdAt", required=False) or dated
        children.append(({
            "credit_id": credit_id, "transaction_id": ident(tx.get("transactionId"), "transactionId"),
            "payment_transaction_id": ident(tx.get("paymentTransactionId"), "paymentTransactionId",
                                            required=False),
            "order_id": order_id, "order_version": order_version, "credit_status": status,
            "status": _upper(tx.get("status"), "credit transaction status"),
            "amount": _money(tx, "amount", where, required=True),
            "currency": currency(tx.get("currency"), "credit transaction currency", default=cur),
            "created_at": tx_created,
            # The credit transaction's shape is undocumented: its method is reimbursementMethod,
            # else (as on payment transactions) paymentType.
            "reimbursement_method": _upper(tx.get("reimbursementMethod") or tx.get("paymentType"),
                                           "reimbursementMethod"),
            "reimbursement_type_group": _upper(tx.get("reimbursementTypeGroup"), "reimbursementTypeGroup"),
            "external_transaction_id": ident(tx.get("externalTransactionId"), "externalTransactionId",
                                             required=False),
            "rrn": ident(tx.get("rrn"), "rrn", required=False),
            "business_date": business_date(tx_created, tz),
        }, tx))
    return Parsed("entur_credits", row, {"entur_credit_transactions": children} if children else {})


# --- a whole page of plain records, column by column (recon.ingest.columnar) --------------------

_S, _I, _B = pa.string(), pa.int64(), pa.bool_()
_INT64 = 2**63 - 1  # validation.integer's bound
_CURRENCIES = pa.array(sorted(ISO_4217))
# Ids and amounts come as numbers or as text: each page types them by their first value (first_kinds).
_PAYMENT_VARIED = ("paymentId", "orderId", "organisationId", "customerNumber", "totalAmount")
_PAYMENT = {"orderVersion": _I, "currency": _S, "createdAt": _S, "updatedAt": _S, "active": _B}
_TRANSACTION_VARIED = ("transactionId", "amount", "externalTransactionId", "rrn", "settlementId")
_TRANSACTION = {"status": _S, "currency": _S, "createdAt": _S, "paymentType": _S, "paymentTypeGroup": _S,
                "cardNumber": _S}
_SUMMARY_VARIED = ("capturedAmount", "creditedAmount", "remainingAmountToCapture", "remainingAmountToCredit")
_CREDIT_VARIED = ("creditId", "orderId", "organisationId", "customerNumber", "totalCreditAmount")
_CREDIT = {"orderVersion": _I, "currency": _S, "status": _S, "createdAt": _S, "updatedAt": _S, "active": _B}
_CREDIT_TRANSACTION_VARIED = ("transactionId", "paymentTransactionId", "amount", "externalTransactionId", "rrn")
_CREDIT_TRANSACTION = {"status": _S, "currency": _S, "createdAt": _S, "reimbursementMethod": _S,
                       "paymentType": _S, "reimbursementTypeGroup": _S}


def _struct(varied: dict[str, pa.DataType] | None, fixed: dict[str, pa.DataType],
            **more: pa.DataType) -> pa.StructType | None:
    """The page's type of a record: its ``varied`` fields as first_kinds found them (None: it found
    a value of neither type, and so is the result), then the ``fixed`` ones and ``more``."""
    return None if varied is None else pa.struct([*varied.items(), *fixed.items(), *more.items()])


def _payment_lists(records: list[Any]) -> str | None:
    """The key under which this page's payments carry their transactions; None unless every record
    and transaction is an object, every list a list, every summary an object or absent, and all
    payments use one key (normalise_payment reads ``transactions`` only where
    ``transactionHistory`` is absent: a page that mixes them goes the per-record way)."""
    used = ""
    for record in records:
        if type(record) is not dict:
            return None
        key = "transactionHistory"
        txs = record.get(key)
        if txs is None:
            key = "transactions"
            txs = record.get(key)
            if txs is None:
                continue
        if type(txs) is not list or (used and key != used):
            return None
        used = key
        for tx in txs:
            if type(tx) is not dict:
                return None
            summary = tx.get("summary")
            if summary is not None and type(summary) is not dict:
                return None
    return used or "transactionHistory"


def _credit_lists(records: list[Any]) -> bool:
    """Every record and credit transaction is an object, and every list of them a list or absent."""
    for record in records:
        if type(record) is not dict:
            return False
        txs = record.get("creditTransactions")
        if txs is not None and (type(txs) is not list or any(type(tx) is not dict for tx in txs)):
            return False
    return True


def _money_of(values: pa.Array, *, required: bool = False) -> pa.Array | None:
    """``_money`` of each value."""
    found = columnar.minor_units(values, empty_is_none=True)
    return None if found is None or (required and found.null_count) else found


def _upper_of(values: pa.Array) -> pa.Array | None:
    """``_upper`` of each value: an empty one is none."""
    found = columnar.ascii_upper(values, 100)
    return None if found is None else columnar.empty_as_null(found)


def _currency_of(values: pa.Array, default: str | pa.Array) -> pa.Array | None:
    """``currency(value, default=...)`` of each value (a default per row where it is an array)."""
    found = pc.coalesce(values, default)
    return found if not len(found) or columnar.all_true(pc.is_in(found, value_set=_CURRENCIES)) else None


def _family(landing: Landing, records: list[Any], key: str, lists: pa.Array) -> tuple[pa.Array, pa.Array,
                                                                                       list[bytes]]:
    """The records' and their transactions' row ids as the per-record path stamps them, and the
    transactions' canonical JSON (their ``_raw`` and ``_hash``)."""
    encoded = [canonical_json_plain(tx) for record in records for tx in record.get(key) or ()]
    tx_json = [raw for raw in encoded if raw is not None]
    assert len(tx_json) == len(encoded)  # parts of records that encoded plainly
    record_seqs, tx_seqs = columnar.family_seqs(lists, landing.reserve_rows(len(records) + len(tx_json)))
    return landing.row_ids(record_seqs), landing.row_ids(tx_seqs), tx_json


def _landing_columns(ids: pa.Array, page: EncodedPage) -> dict[str, pa.Array]:
    return {"_row_id": ids, "_hash": columnar.digests(page.identities), "_raw": columnar.texts(page.raws)}


def _child_columns(record_ids: pa.Array, parents: pa.Array, ids: pa.Array, encoded: list[bytes]) -> dict[str, pa.Array]:
    return {"_parent_row_id": pc.take(record_ids, parents), "_row_id": ids, "_hash": columnar.digests(encoded),
            "_raw": columnar.texts(encoded)}


def _tx_days(times: pa.Array, tz: str) -> pa.Array | None:
    return columnar.business_dates(times, tz) if len(times) else pa.array([], pa.date32())


def _families(records: list[Any], varied: tuple[str, ...], fields: dict[str, pa.DataType], key: str,
              tx_kind: pa.DataType) -> tuple[Any, pa.Array, pa.Array, pa.Array] | None:
    """A page's records (payments or credits) as Arrow, each with its list of transactions (``key``):
    the records' field getter, the lists, the transactions flattened and each one's record index;
    None where the page does not convert (the record-by-record path decides)."""
    kind = _struct(columnar.first_kinds(records, varied), fields, **{key: pa.list_(tx_kind)})
    arrays = None if kind is None else columnar.to_arrow(records, kind)
    if arrays is None:
        return None
    lists = arrays.field(key)
    return arrays.field, lists, lists.flatten(), pc.cast(pc.list_parent_indices(lists), _I)


def land_payment_page(landing: Landing, page: EncodedPage, tz: str) -> pa.Array | None:
    """The page's payments and transactions as ``normalise_payment`` lands them, built column-wise;
    returns each payment's ``updated_at``, else ``created_at`` (what moves the watermark), or None
    (nothing landed) unless every record is one normalise_payment takes as sent."""
    records = page.records
    key = _payment_lists(records)
    if key is None or not records:
        return None
    txs = [tx for record in records for tx in record.get(key) or ()]
    summaries = [tx["summary"] for tx in txs if tx.get("summary") is not None]
    summary = _struct(columnar.first_kinds(summaries, _SUMMARY_VARIED), {})
    if summary is None:
        return None
    tx_kind = _struct(columnar.first_kinds(txs, _TRANSACTION_VARIED), _TRANSACTION, summary=summary)
    if tx_kind is None:
        return None
    families = _families(records, _PAYMENT_VARIED, _PAYMENT, key, tx_kind)
    if families is None:
        return None
    field, lists, flat, parents = families
    tx_field, sums = flat.field, flat.field("summary")
    cur = _currency_of(field("currency"), "NOK")
    created = columnar.iso_utc_times(field("createdAt"))
    tx_created = columnar.iso_utc_times(tx_field("createdAt"), required=False)
    if cur is None or created is None or tx_created is None:
        return None
    tx_created = pc.coalesce(tx_created, pc.take(created, parents))
    row = {
        "payment_id": columnar.idents(field("paymentId"), required=True),
        "order_id": columnar.idents(field("orderId"), required=True), "order_version": field("orderVersion"),
        "organisation_id": columnar.idents(field("organisationId")), "total_amount": _money_of(field("totalAmount")),
        "currency": cur, "created_at": created,
        "updated_at": columnar.iso_utc_times(field("updatedAt"), required=False),
        "customer_number": columnar.idents(field("customerNumber")), "active": field("active"),
        "transaction_count": pc.cast(pc.fill_null(pc.list_value_length(lists), 0), _I),
        "business_date": columnar.business_dates(created, tz),
    }
    if any(column is None for column in row.values()) or not columnar.within(field("orderVersion"), -_INT64, _INT64):
        return None
    tx_row = {
        "payment_id": pc.take(row["payment_id"], parents),
        "transaction_id": columnar.idents(tx_field("transactionId"), required=True),
        "order_id": pc.take(row["order_id"], parents), "order_version": pc.take(field("orderVersion"), parents),
        "status": _upper_of(tx_field("status")), "amount": _money_of(tx_field("amount")),
        # A null summary holds none of its amounts (struct_field, unlike .field, says so).
        **{column: _money_of(pc.struct_field(sums, name)) for column, name in zip(
            ("captured_amount", "credited_amount", "remaining_to_capture", "remaining_to_credit"), _SUMMARY_VARIED,
            strict=True)},
        "currency": _currency_of(tx_field("currency"), pc.take(cur, parents)), "created_at": tx_created,
        "payment_type": _upper_of(tx_field("paymentType")),
        "payment_type_group": _upper_of(tx_field("paymentTypeGroup")),
        "external_transaction_id": columnar.idents(tx_field("externalTransactionId")),
        "rrn": columnar.idents(tx_field("rrn")), "settlement_id": columnar.idents(tx_field("settlementId")),
        "card_number": tx_field("cardNumber") if columnar.text_ok(tx_field("cardNumber"), 64) else None,
        "business_date": _tx_days(tx_created, tz),
    }
    if (any(column is None for column in tx_row.values()) or tx_row["status"].null_count
            or (len(flat) and not columnar.all_true(pc.or_(pc.is_valid(tx_row["amount"]),
                                                           pc.is_valid(tx_row["captured_amount"]))))):
        return None
    payment_ids, tx_ids, tx_json = _family(landing, records, key, lists)
    landing.add_columns("entur_payments", {**row, **_landing_columns(payment_ids, page)})
    landing.add_columns("entur_payment_transactions", {**tx_row, **_child_columns(payment_ids, parents, tx_ids,
                                                                                  tx_json)})
    return pc.coalesce(row["updated_at"], created)


def land_credit_page(landing: Landing, page: EncodedPage, tz: str) -> pa.Array | None:
    """The page's credits and transactions as ``normalise_credit`` lands them, built column-wise;
    returns each credit's ``updated_at``, else ``created_at`` (what moves the watermark), or None
    (nothing landed) unless every record is one normalise_credit takes as sent."""
    records = page.records
    if not records or not _credit_lists(records):
        return None
    key = "creditTransactions"
    txs = [tx for record in records for tx in record.get(key) or ()]
    tx_kind = _struct(columnar.first_kinds(txs, _CREDIT_TRANSACTION_VARIED), _CREDIT_TRANSACTION)
    if tx_kind is None:
        return None
    families = _families(records, _CREDIT_VARIED, _CREDIT, key, tx_kind)
    if families is None:
        return None
    field, lists, flat, parents = families
    tx_field = flat.field
    cur = _currency_of(field("currency"), "NOK")
    created = columnar.iso_utc_times(field("createdAt"), required=False)
    updated = columnar.iso_utc_times(field("updatedAt"), required=False)
    tx_times = columnar.iso_utc_times(tx_field("createdAt"), required=False)
    if cur is None or created is None or updated is None or tx_times is None:
        return None
    # createdAt on a credit is inferred: without it, its first transaction's time dates it, then its updatedAt.
    dated = pc.coalesce(created, updated)
    if created.null_count and tx_times.null_count < len(tx_times):
        first = pa.table({"credit": parents, "at": tx_times}).group_by("credit").aggregate([("at", "min")])
        earliest = pc.take(first.column("at_min").combine_chunks(),
                           pc.index_in(pa.array(range(len(records)), _I), first.column("credit").combine_chunks()))
        dated = pc.coalesce(created, earliest, updated)
    if dated.null_count:
        return None
    tx_created = pc.coalesce(tx_times, pc.take(dated, parents))
    status = _upper_of(field("status"))
    row = {
        "credit_id": columnar.idents(field("creditId"), required=True),
        "order_id": columnar.idents(field("orderId"), required=True), "order_version": field("orderVersion"),
        "organisation_id": columnar.idents(field("organisationId")),
        "total_credit_amount": _money_of(field("totalCreditAmount")), "currency": cur, "status": status,
        "created_at": created, "updated_at": updated, "customer_number": columnar.idents(field("customerNumber")),
        "active": field("active"), "transaction_count": pc.cast(pc.fill_null(pc.list_value_length(lists), 0), _I),
        "business_date": columnar.business_dates(dated, tz),
    }
    if (any(column is None for column in row.values())
            or not columnar.within(field("orderVersion"), -_INT64, _INT64)):
        return None
    assert status is not None
    # The method is reimbursementMethod, else (an empty one too) paymentType.
    method = tx_field("reimbursementMethod")
    method = pc.if_else(pc.fill_null(pc.equal(method, ""), True), tx_field("paymentType"), method)
    tx_row = {
        "credit_id": pc.take(row["credit_id"], parents),
        "transaction_id": columnar.idents(tx_field("transactionId"), required=True),
        "payment_transaction_id": columnar.idents(tx_field("paymentTransactionId")),
        "order_id": pc.take(row["order_id"], parents), "order_version": pc.take(field("orderVersion"), parents),
        "credit_status": pc.take(status, parents), "status": _upper_of(tx_field("status")),
        "amount": _money_of(tx_field("amount"), required=True),
        "currency": _currency_of(tx_field("currency"), pc.take(cur, parents)), "created_at": tx_created,
        "reimbursement_method": _upper_of(method),
        "reimbursement_type_group": _upper_of(tx_field("reimbursementTypeGroup")),
        "external_transaction_id": columnar.idents(tx_field("externalTransactionId")),
        "rrn": columnar.idents(tx_field("rrn")), "business_date": _tx_days(tx_created, tz),
    }
    if any(column is None for column in tx_row.values()):
        return None
    credit_ids, tx_ids, tx_json = _family(landing, records, key, lists)
    landing.add_columns("entur_credits", {**row, **_landing_columns(credit_ids, page)})
    landing.add_columns("entur_credit_transactions", {**tx_row, **_child_columns(credit_ids, parents, tx_ids,
                                                                                 tx_json)})
    return pc.coalesce(updated, created)


# normalise_payment / normalise_credit, and land_payment_page / land_credit_page: (…, tz).
Normaliser = Callable[[Any, str, str], Parsed]
ColumnLander = Callable[[Landing, EncodedPage, str], pa.Array | None]


class Tracked:
    """One listing's records landed either way (record by record, or a whole page column-wise),
    and its watermark: the newest ``updatedAt`` (else ``createdAt``) landed."""

    def __init__(self, normalise: Normaliser, land_columns: ColumnLander, tz: str,
                 newest: datetime | None, started: datetime) -> None:
        self._normalise, self._land_columns, self.tz = normalise, land_columns, tz
        self.newest, self.started = newest, started

    def _seen(self, seen: datetime | None) -> None:
        if seen is None:
            return
        # A clock far in the future on one record must not hide everything after it.
        seen = min(seen, self.started)
        if self.newest is None or seen > self.newest:
            self.newest = seen

    def normalise(self, record: Any, raw: str) -> Parsed:
        parsed = self._normalise(record, raw, self.tz)
        self._seen(parsed.row.get("updated_at") or parsed.row.get("created_at"))
        return parsed

    def land_columns(self, landing: Landing, page: EncodedPage) -> bool:
        seen = self._land_columns(landing, page, self.tz)
        if seen is None:
            return False
        newest = pc.max(seen).as_py()
        self._seen(None if newest is None else newest.astimezone(UTC))
        return True


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EnturSource:
    name = "entur"

    def __init__(self, cfg: EnturConfig, api: Getter, lake: Lake, flush_rows: int) -> None:
        self.cfg, self.api, self.lake, self.flush_rows = cfg, api, lake, flush_rows

    def pull(self, landing: Landing, progress: Progress | None = None) -> dict[str, Any]:
        cfg = self.cfg
        return {
            "payments": self._pull_one(landing, "payments", cfg.payments_path, cfg.payments_watermark_field,
                                       normalise_payment, land_payment_page, "payment", ("paymentId", "orderId"),
                                       progress),
            "credits": self._pull_one(landing, "credits", cfg.credits_path, cfg.credits_watermark_field,
                                      normalise_credit, land_credit_page, "credit", ("creditId", "orderId"),
                                      progress),
        }

    def _pull_one(self, landing: Landing, what: str, path: str, field: str, normalise: Normaliser,
                  land_columns: ColumnLander, kind: str, id_keys: tuple[str, ...],
                  progress: Progress | None) -> dict[str, Any]:
        state = self.lake.read_state("entur", what) or {}
        before = state.get("watermark")
        params: list[tuple[str, Any]] = []
        since: datetime | None = None
        if field:
            if before:
                since = datetime.fromisoformat(before) - timedelta(hours=self.cfg.lookback_hours)
            elif self.cfg.start:
                since = timestamp(self.cfg.start, "entur.start")
            if since is not None:
                params.append((field, f"gte:{_iso(since)}"))
        tracked = Tracked(normalise, land_columns, self.cfg.timezone,
                          datetime.fromisoformat(before) if before else None, datetime.now(UTC))

        pages_read = 0

        def record_key(record: Any) -> Any:
            # The record's id as sent (paymentId / creditId): what completeness counts.
            return record.get(id_keys[0]) if isinstance(record, dict) else None

        def read(query: list[tuple[str, Any]]) -> None:
            nonlocal pages_read
            for page in numbered_pages(self.api, path, query, per_page=self.cfg.page_size,
                                       page_base=self.cfg.page_base, key=record_key):
                pages_read += 1
                land_page(landing, page.items, tracked.normalise, kind=kind, id_keys=id_keys,
                          context=f"{what} page {page.number}", progress=progress,
                          personal=PERSONAL_FIELDS["entur"], keep_personal=self.cfg.land_pii,
                          columnar=tracked.land_columns)
                if landing.due(self.flush_rows):
                    # Durable, but the watermark waits for the end: offset pages over a changing
                    # set are only complete once the last page has been read.
                    landing.checkpoint()

        try:
            read(params)
        except HttpStatusError as exc:
            # The filter field is configuration, not contract: an API that refuses it is read whole
            # (correct, only slower) rather than not at all.
            if not params or exc.status != 400 or pages_read:
                raise
            log.warning("entur: %s refused the filter %s=%s (%s); reading %s whole", path, params[0][0],
                        params[0][1], exc.summary, what,
                        extra={"event": "filter_refused", "source": "entur", "path": path})
            params = []
            read(params)
        landing.checkpoint()
        after = tracked.newest.isoformat() if tracked.newest else None
        if field and after != before:
            self.lake.write_state({"watermark": after, "field": field, "run_id": landing.run_id,
                                   "updated_at": datetime.now(UTC).isoformat()}, "entur", what)
        return {"before": before, "after": after, "filter": params[0][1] if params else None}
