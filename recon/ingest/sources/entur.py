"""Entur Sales API: payments and credits with their transactions, page-numbered.

Records change after creation (a transaction is captured, a credit is credited), so each pull
asks for everything changed since the stored watermark minus a look-back window, and the views
keep each record's latest landed version.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from recon.config import EnturConfig
from recon.errors import HttpStatusError
from recon.ingest.paging import Getter, numbered_pages
from recon.ingest.personal import PERSONAL_FIELDS
from recon.ingest.records import Parsed, Progress, land_page
from recon.ingest.validation import BadValue, boolean, currency, ident, integer, req, text, timestamp
from recon.lake.landing import Landing
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
                                       normalise_payment, "payment", ("paymentId", "orderId"), progress),
            "credits": self._pull_one(landing, "credits", cfg.credits_path, cfg.credits_watermark_field,
                                      normalise_credit, "credit", ("creditId", "orderId"), progress),
        }

    def _pull_one(self, landing: Landing, what: str, path: str, field: str, normalise: Any, kind: str,
                  id_keys: tuple[str, ...], progress: Progress | None) -> dict[str, Any]:
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
        newest: datetime | None = datetime.fromisoformat(before) if before else None
        tz = self.cfg.timezone
        started = datetime.now(UTC)

        def normalise_and_track(record: Any, raw: str) -> Parsed:
            nonlocal newest
            parsed = normalise(record, raw, tz)
            seen = parsed.row.get("updated_at") or parsed.row.get("created_at")
            if seen is not None:
                # A clock far in the future on one record must not hide everything after it.
                seen = min(seen, started)
            if seen is not None and (newest is None or seen > newest):
                newest = seen
            return parsed

        pages_read = 0

        def record_key(record: Any) -> Any:
            # The record's id as sent (paymentId / creditId): what completeness counts.
            return record.get(id_keys[0]) if isinstance(record, dict) else None

        def read(query: list[tuple[str, Any]]) -> None:
            nonlocal pages_read
            for page in numbered_pages(self.api, path, query, per_page=self.cfg.page_size,
                                       page_base=self.cfg.page_base, key=record_key):
                pages_read += 1
                land_page(landing, page.items, normalise_and_track, kind=kind, id_keys=id_keys,
                          context=f"{what} page {page.number}", progress=progress,
                          personal=PERSONAL_FIELDS["entur"], keep_personal=self.cfg.land_pii)
                if landing.pending >= self.flush_rows:
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
        after = newest.isoformat() if newest else None
        if field and after != before:
            self.lake.write_state({"watermark": after, "field": field, "run_id": landing.run_id,
                                   "updated_at": datetime.now(UTC).isoformat()}, "entur", what)
        return {"before": before, "after": after, "filter": params[0][1] if params else None}
