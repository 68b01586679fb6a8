"""Entur search semantics for the sandbox: filters ``field=op:value``, stable order, paging views.

Rules (docs/apis.md §3.2 plus the sandbox's documented choices):

* ``op`` is one of ``eq ne gt gte lt lte in nin``; a bare ``field=value`` means ``eq``; ``in`` and
  ``nin`` take comma-separated values; repeated parameters AND together.
* A field the record has at top level compares against that value. Otherwise, if the record's
  transactions have it (payments: ``transactionHistory`` or ``transactions``; credits:
  ``creditTransactions``), the record matches when any transaction matches (``status``,
  ``paymentType``, ``externalTransactionId``, ``reimbursementMethod``, ...).
* ``updatedAt`` on a record without ``updatedAt`` compares its ``createdAt``.
* A documented parameter whose value the record lacks does not match (not even ``ne``);
  any other parameter the record lacks is ignored for that record.
* Timestamps compare as instants, numbers numerically, anything else as strings. A filter value
  that cannot be read as its field's type (``createdAt=gte:notadate``) is a FilterError (-> 400).

Order is by ``paymentId`` / ``creditId`` (ints numerically, then other values as strings).
Lists and tuples are sorted by the sandbox; other (lazy) sequences are trusted to be generated in
that order already, because checking would mean building every record of a huge benchmark set.
"""

from __future__ import annotations

import threading
from array import array
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

OPS = frozenset({"eq", "ne", "gt", "gte", "lt", "lte", "in", "nin"})
RESERVED_PARAMS = frozenset({"page", "perPage"})

# Filter values of these fields must parse as numbers (IDs and decimal-string amounts).
_NUMERIC_FIELDS = frozenset({
    "paymentId", "creditId", "orderVersion", "organisationId", "paymentTransactionId",
    "transactionId", "totalAmount", "totalCreditAmount",
})

_CHUNK = 4096  # slice lazy sequences in chunks: one slice call is far cheaper than 4096 indexings


@dataclass(frozen=True)
class Resource:
    """One searchable collection: how to order it and where its transactions are."""

    name: str
    id_field: str
    tx_fields: tuple[str, ...]
    documented: frozenset[str]
    # filter name -> transaction field names to try, in order (first one present is used)
    tx_aliases: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


PAYMENTS = Resource(
    name="payments",
    id_field="paymentId",
    tx_fields=("transactionHistory", "transactions"),
    documented=frozenset({
        "paymentId", "orderId", "orderVersion", "organisationId", "customerNumber", "createdAt",
        "updatedAt", "currency", "paymentType", "paymentTypeGroup", "status",
        "paymentTransactionId", "externalTransactionId", "rrn", "settlementId", "cardNumber",
        "totalAmount",
    }),
    # The payment transaction's own ID is `transactionId` on the transaction.
    tx_aliases={"paymentTransactionId": ("paymentTransactionId", "transactionId")},
)

CREDITS = Resource(
    name="credits",
    id_field="creditId",
    tx_fields=("creditTransactions",),
    documented=frozenset({
        "creditId", "orderId", "orderVersion", "organisationId", "customerNumber",
        "transactionId", "reimbursementMethod", "reimbursementTypeGroup", "status", "rrn",
        "settlementId", "totalCreditAmount",
    }),
    # `transactionId` filters on the *credited payment* transaction (docs/apis.md §3.2/§3.5).
    tx_aliases={"transactionId": ("paymentTransactionId", "transactionId")},
)


class FilterError(ValueError):
    """A malformed filter value; the API answers 400."""


def parse_instant(value: Any) -> datetime | None:
    """An aware datetime from an ISO 8601 string (``Z`` and offsets; naive means UTC), else None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float, str)):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _field_type(name: str) -> str:
    if name in _NUMERIC_FIELDS:
        return "number"
    if name.endswith("At") or name.endswith("Time"):
        return "time"
    return "auto"


@dataclass(frozen=True)
class Filter:
    field: str
    op: str
    raw: tuple[str, ...]
    type: str  # "time" | "number" | "auto"
    typed: tuple[Any, ...]  # parsed values for "time"/"number"; for "auto" the numbers, or ()

    @property
    def key(self) -> tuple[str, str, tuple[str, ...]]:
        return (self.field, self.op, self.raw)

    def test(self, value: Any) -> bool:
        """Whether a record's (non-None) value passes this filter."""
        if self.type == "time":
            left: Any = parse_instant(value)
            values: tuple[Any, ...] = self.typed
        elif self.type == "number":
            left, values = _number(value), self.typed
        elif isinstance(value, bool):
            left, values = str(value).lower(), tuple(v.lower() for v in self.raw)
        elif isinstance(value, (int, float)):
            if self.typed:  # numeric record value and numeric filter: compare as numbers
                left, values = _number(value), self.typed
            else:
                left, values = str(value), self.raw
        elif isinstance(value, str):
            left, values = value, self.raw
        else:
            return False  # objects and arrays never equal a query string
        if left is None:
            return False  # the record's value is unreadable as the field's type
        return _apply(self.op, left, values)


def _apply(op: str, left: Any, values: tuple[Any, ...]) -> bool:
    if op == "in":
        return left in values
    if op == "nin":
        return left not in values
    right = values[0]
    if op == "eq":
        return left == right
    if op == "ne":
        return left != right
    if op == "gt":
        return left > right
    if op == "gte":
        return left >= right
    if op == "lt":
        return left < right
    return left <= right  # lte


def parse_filters(query: Mapping[str, Sequence[str]]) -> tuple[Filter, ...]:
    """Every query parameter except page/perPage, as filters (repeated parameters AND)."""
    filters: list[Filter] = []
    for name, values in query.items():
        if name in RESERVED_PARAMS:
            continue
        for text in values:
            filters.append(_parse_one(name, text))
    return tuple(filters)


def _parse_one(name: str, text: str) -> Filter:
    op, sep, rest = text.partition(":")
    if not sep or op not in OPS:
        op, rest = "eq", text  # bare value; also keeps "2026-03-01T00:00:00Z" whole
    raw = tuple(rest.split(",")) if op in ("in", "nin") else (rest,)
    kind = _field_type(name)
    typed: tuple[Any, ...]
    if kind == "time":
        instants = tuple(parse_instant(v.strip()) for v in raw)
        if any(i is None for i in instants):
            raise FilterError(f"{name}: {rest!r} is not an ISO 8601 date-time")
        typed = instants
    elif kind == "number":
        numbers = tuple(_number(v) for v in raw)
        if any(n is None for n in numbers):
            raise FilterError(f"{name}: {rest!r} is not a number")
        typed = numbers
    else:
        numbers = tuple(_number(v) for v in raw)
        typed = numbers if all(n is not None for n in numbers) else ()
    return Filter(name, op, raw, kind, typed)


def record_matches(record: Any, filters: Sequence[Filter], res: Resource) -> bool:
    if not isinstance(record, dict):
        # A malformed record has no values: only filters that may be ignored let it through.
        return all(f.field not in res.documented for f in filters)
    return all(_field_matches(record, f, res) for f in filters)


def _field_matches(record: dict[str, Any], f: Filter, res: Resource) -> bool:
    value = record.get(f.field)
    if value is None and f.field == "updatedAt":
        value = record.get("createdAt")  # never-updated records: updatedAt == createdAt
    if value is not None:
        return f.test(value)
    names = res.tx_aliases.get(f.field, (f.field,))
    seen = False
    for tx_field in res.tx_fields:
        transactions = record.get(tx_field)
        if not isinstance(transactions, list):
            continue
        for tx in transactions:
            if not isinstance(tx, dict):
                continue
            for name in names:
                tx_value = tx.get(name)
                if tx_value is not None:
                    seen = True
                    if f.test(tx_value):
                        return True
                    break
    if seen:
        return False
    return f.field not in res.documented


def id_sort_key(record: Any, id_field: str) -> tuple[int, int, str]:
    """Ints first, numerically; then other values as strings; records without an ID last."""
    value = record.get(id_field) if isinstance(record, dict) else None
    if isinstance(value, int) and not isinstance(value, bool):
        return (0, value, "")
    if value is None:
        return (2, 0, "")
    return (1, 0, str(value))


class EnturIndex:
    """Ordered, filtered views (sequences of record positions) over payments or credits.

    Small collections are recomputed on every request, so tests that edit records in place see
    the edit at once. Large ones (benchmarks) are cached per (collection object, length, filters):
    paging through N records with a filter would otherwise scan all N on every page.
    """

    CACHE_MIN = 20_000
    CACHE_SIZE = 8

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._orders: dict[str, tuple[Sequence[Any], int, Sequence[int]]] = {}
        self._filtered: OrderedDict[tuple[Any, ...], tuple[Sequence[Any], int, Sequence[int]]] = (
            OrderedDict()
        )

    def view(self, res: Resource, seq: Sequence[Any], filters: Sequence[Filter]) -> Sequence[int]:
        n = len(seq)
        order = self._order(res, seq, n)
        if not filters:
            return order
        if n < self.CACHE_MIN:
            return _filter_positions(seq, n, order, lambda r: record_matches(r, filters, res))
        key = (res.name, tuple(f.key for f in filters))
        with self._lock:
            hit = self._filtered.get(key)
            if hit is not None and hit[0] is seq and hit[1] == n:
                self._filtered.move_to_end(key)
                return hit[2]
        positions = _filter_positions(seq, n, order, lambda r: record_matches(r, filters, res))
        with self._lock:
            self._filtered[key] = (seq, n, positions)
            while len(self._filtered) > self.CACHE_SIZE:
                self._filtered.popitem(last=False)
        return positions

    def _order(self, res: Resource, seq: Sequence[Any], n: int) -> Sequence[int]:
        if not isinstance(seq, (list, tuple)):
            return range(n)  # lazy sequences are generated in ID order (module docstring)
        if n < self.CACHE_MIN:
            return _sorted_positions(seq, res.id_field)
        with self._lock:
            hit = self._orders.get(res.name)
            if hit is not None and hit[0] is seq and hit[1] == n:
                return hit[2]
        order = _sorted_positions(seq, res.id_field)
        with self._lock:
            self._orders[res.name] = (seq, n, order)
        return order


def _sorted_positions(seq: Sequence[Any], id_field: str) -> Sequence[int]:
    keys = [id_sort_key(record, id_field) for record in seq]
    if all(keys[i] <= keys[i + 1] for i in range(len(keys) - 1)):
        return range(len(keys))  # the common case: no permutation to store
    return array("q", sorted(range(len(keys)), key=keys.__getitem__))  # stable: ties keep order


def _filter_positions(
    seq: Sequence[Any], n: int, order: Sequence[int], keep: Callable[[Any], bool]
) -> Sequence[int]:
    out = array("q")
    if isinstance(order, range):
        for start in range(0, n, _CHUNK):
            for offset, record in enumerate(seq[start:min(n, start + _CHUNK)]):
                if keep(record):
                    out.append(start + offset)
    else:
        for position in order:
            if keep(seq[position]):
                out.append(position)
    return out
