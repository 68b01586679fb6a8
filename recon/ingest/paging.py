"""Paginators in the manner of dlt's rest_client: each knows one paging style and its guards.

The public API documents leave paging details open (Vipps: whether every page has ``hasMore``;
Entur: whether pages count from 0 or 1, the largest ``perPage``). Where they are silent the
paginators either read everything or fail the listing loudly, never end early in silence:

* a cursor feed ends on ``hasMore: false``, ``tryLater: true``, an empty page without
  ``hasMore``, or a cursor that comes back unchanged; every loop is bounded (pages per listing,
  empty pages in a row), and a bound that is hit fails the source with one line;
* a page-numbered listing detects the page base, shrinks a ``perPage`` the server refuses, and
  proves it read everything: the distinct records read must equal the ``totalItems`` the server
  gave (on the first page, or on the last when the set grew while it was read).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import queue
import re
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from recon.errors import FatalSourceError, HttpStatusError

# Bounds of every paging loop (http.max_pages_per_listing / http.max_empty_pages overrides them).
MAX_PAGES = 100_000
MAX_EMPTY_PAGES = 5


class Getter(Protocol):
    source: str

    def get(self, path: str, params: Any = None) -> Any: ...


def _limits(api: Getter, max_pages: int | None, max_empty_pages: int | None) -> tuple[int, int]:
    """Explicit bounds, else the client's (``ApiClient.paging_limits``, from [http]), else the defaults."""
    pages, empty = getattr(api, "paging_limits", (MAX_PAGES, MAX_EMPTY_PAGES))
    return max_pages or pages, max_empty_pages or empty


@dataclass
class CursorPage:
    items: list[Any]
    cursor: str | None  # where to resume after this page
    has_more: bool  # False: this page ends the feed (for now)
    try_later: bool = False  # the server said tryLater (feed: the end for now; by date: still open)


@dataclass
class NumberedPage:
    number: int
    items: list[Any]
    total_pages: int


T = TypeVar("T")


def read_ahead(source: str, pages: Generator[T, None, None]) -> Iterator[T]:
    """``pages``, produced on a worker thread that runs up to two pages ahead of the caller.

    While the caller lands page n, the worker has page n + 1 decoded and checked, and the server
    is already at work on page n + 2: its work and the network wait overlap with landing instead
    of adding to it. Only reading runs ahead; nothing is committed early, and an error of the
    paginator surfaces where its page would have been taken, as if read then. When the caller
    stops early, the worker stops after the request it is in.
    """
    handoff: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def produce() -> None:
        try:
            for page in pages:
                handoff.put(("page", page))
                if stop.is_set():
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, raised there
            handoff.put(("error", exc))
        else:
            handoff.put(("end", None))
        finally:
            pages.close()

    worker = threading.Thread(target=produce, name=f"{source}-read-ahead", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = handoff.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        while worker.is_alive():
            with contextlib.suppress(queue.Empty):
                handoff.get_nowait()  # a worker waiting to hand over a page goes on to stop
            worker.join(timeout=0.01)


def _shape_error(source: str, path: str, what: str) -> FatalSourceError:
    return FatalSourceError(source, f"GET {path}: unexpected response shape: {what}")


def cursor_pages(
    api: Getter,
    path: str,
    params: dict[str, Any],
    *,
    cursor: str | None,
    cursor_param: str = "cursor",
    items_key: str = "items",
    cursor_key: str = "cursor",
    has_more_key: str = "hasMore",
    max_pages: int | None = None,
    max_empty_pages: int | None = None,
    try_later_ends: bool = True,
) -> Iterator[CursorPage]:
    """Follow an opaque cursor to the end of the feed (see the module docstring for "end").

    ``try_later_ends=False`` (the Report API's by-date listing, where tryLater means "this date
    is still open") reads on while ``hasMore`` and only records the flag on the page.

    A cursor that comes back after other cursors would loop forever: the pull stops with an
    error and the stored cursor stays where the data is safe. Pages are read ahead (``read_ahead``).
    """
    return read_ahead(api.source, _cursor_pages(api, path, params, cursor, cursor_param, items_key, cursor_key,
                                                has_more_key, max_pages, max_empty_pages, try_later_ends))


def _cursor_pages(api: Getter, path: str, params: dict[str, Any], cursor: str | None, cursor_param: str,
                  items_key: str, cursor_key: str, has_more_key: str, max_pages: int | None,
                  max_empty_pages: int | None, try_later_ends: bool) -> Generator[CursorPage, None, None]:
    max_pages, max_empty_pages = _limits(api, max_pages, max_empty_pages)
    seen: set[str] = set()
    if cursor:
        seen.add(cursor)

    def fetch(at: str | None) -> Any:
        query = dict(params)
        if at:
            query[cursor_param] = at
        return api.get(path, query)

    pages = empty_in_a_row = 0
    while True:
        body = fetch(cursor)
        page = _cursor_page(api.source, path, body, items_key, cursor_key, has_more_key, seen, cursor,
                            try_later_ends)
        pages += 1
        empty_in_a_row = 0 if page.items else empty_in_a_row + 1
        if page.has_more:
            if pages >= max_pages:
                raise FatalSourceError(api.source, f"GET {path}: read {pages} pages without reaching the end "
                                       f"of the feed (http.max_pages_per_listing); stopping")
            if empty_in_a_row >= max_empty_pages:
                raise FatalSourceError(api.source, f"GET {path}: {empty_in_a_row} empty pages in a row that "
                                       f"say {has_more_key}: true (http.max_empty_pages); stopping")
        cursor = page.cursor
        yield page
        if not page.has_more:
            return


def _cursor_page(source: str, path: str, body: Any, items_key: str, cursor_key: str, has_more_key: str,
                 seen: set[str], cursor: str | None, try_later_ends: bool) -> CursorPage:
    if not isinstance(body, dict):
        raise _shape_error(source, path, "not a JSON object")
    items = body.get(items_key)
    if items is None:
        items = []
    if not isinstance(items, list):
        raise _shape_error(source, path, f"{items_key!r} is not a list")
    has_more = body.get(has_more_key)
    if has_more is not None and not isinstance(has_more, bool):
        raise _shape_error(source, path, f"{has_more_key!r} is not true/false")
    try_later = body.get("tryLater")
    if try_later is not None and not isinstance(try_later, bool):
        raise _shape_error(source, path, "'tryLater' is not true/false")
    nxt = body.get(cursor_key)
    if nxt is not None and not isinstance(nxt, str):
        raise _shape_error(source, path, f"{cursor_key!r} is not a string")
    if has_more and not nxt:
        raise _shape_error(source, path, f"{has_more_key} is true but there is no {cursor_key}")
    unchanged = not nxt or nxt == cursor
    if (try_later and try_later_ends) or has_more is False:
        more = False
    elif has_more is None:
        # The Report API's feeds and (per Vipps's own guide) most Sales API pages carry no hasMore:
        # a page is a page, and the feed ends on an empty page or a cursor that does not move.
        more = bool(items) and not unchanged
    elif unchanged:
        raise FatalSourceError(source, f"GET {path}: {has_more_key} is true but the cursor did not move; "
                                       "stopping to avoid a loop")
    else:
        more = True
    if more and nxt in seen:
        raise FatalSourceError(source, f"GET {path}: cursor {nxt!r} repeated; stopping to avoid a loop")
    if more and nxt:
        seen.add(nxt)
    # At the end some servers send no cursor: keep resuming from the last one we had.
    return CursorPage(items, nxt or cursor, more, bool(try_later))


def _same_items(items: list[Any], previous: list[Any]) -> bool:
    """Whether two pages hold equal items in the same order (``_fingerprint``). Equal pages have
    equal first and last items, so only pages that pass that cheap test are encoded whole."""
    return (len(items) == len(previous)
            and _fingerprint([items[0], items[-1]]) == _fingerprint([previous[0], previous[-1]])
            and _fingerprint(items) == _fingerprint(previous))


def _fingerprint(items: list[Any]) -> str:
    """A digest equal for equal items (keys in any order), for the page-repeat check.

    orjson encodes a page about ten times faster than json.dumps; what it refuses (lone
    surrogates, integers beyond 64 bits, TooDeep markers) goes to json.dumps. Which encoder runs
    depends on the value alone, so two equal pages always take the same one.
    """
    try:
        blob = orjson.dumps(items, default=str, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # orjson.JSONEncodeError
        # The NUL (never the start of orjson's text) keeps the two encoders' texts apart.
        blob = b"\x00" + json.dumps(items, sort_keys=True, default=str).encode("utf-8", "surrogatepass")
    return hashlib.sha256(blob).hexdigest()


# A 400 whose problem names the page size: the server has a perPage limit the documents omit.
_PAGE_SIZE_WORDS = re.compile(r"per.?page|page.?size|limit", re.IGNORECASE)
def smaller_page_size(exc: HttpStatusError, per_page: int) -> int | None:
    """The page size to retry with after ``exc`` refused ``per_page``, or None if it was not that.

    The limit the server names in its problem text is taken; failing that, half the size.
    """
    words = re.sub(r"^HTTP \d+:?", "", exc.summary)
    if exc.status != 400 or per_page <= 1 or not _PAGE_SIZE_WORDS.search(words):
        return None
    limits = [int(n) for n in re.findall(r"\d+", words) if 1 <= int(n) < per_page]
    return max(limits) if limits else per_page // 2


class DistinctIds:
    """The distinct ids of a listing, counted exactly as a Python set counts them (``len``), in a
    fraction of its memory: ids that are 64-bit integers or strings (every id of an API that
    behaves) are kept in Arrow arrays, 8 bytes or the text a record instead of a set entry and an
    object; anything else in a set. A backfill of a million Entur payments held about 50 MB of ids."""

    def __init__(self) -> None:
        self._ints: list[int] = []
        self._texts: list[str] = []
        self._chunks: dict[pa.DataType, list[pa.Array]] = {pa.int64(): [], pa.string(): []}
        self._other: set[Any] = set()

    def add(self, key: Any) -> None:
        kind = type(key)
        if kind is int and -(2**63) <= key < 2**63:
            self._ints.append(key)
        elif kind is str:
            self._texts.append(key)
        else:
            self._other.add(key)

    def flush(self) -> None:
        """Move the ids added since into Arrow (once a page)."""
        for values, kind in ((self._ints, pa.int64()), (self._texts, pa.string())):
            if values:
                self._chunks[kind].append(pa.array(values, kind))
                values.clear()

    def __len__(self) -> int:
        self.flush()
        ints = pa.chunked_array(self._chunks[pa.int64()], pa.int64())
        texts = pa.chunked_array(self._chunks[pa.string()], pa.string())
        # A set counts equal values once, across types too: True == 1, Decimal("1.0") == 1 and
        # 1.0 == 1. Strings equal no number, and no 64-bit integer equals one beyond that range.
        whole = (int(value) for value in self._other
                 if type(value) is bool or (type(value) is float and value.is_integer())
                 or (isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value()))
        numeric = {value for value in whole if -(2**63) <= value < 2**63}
        overlap = 0
        if numeric and len(ints):
            found = pc.is_in(pa.array(sorted(numeric), pa.int64()), value_set=pc.unique(ints))
            overlap = pc.sum(found).as_py() or 0
        return _count_distinct(ints) + _count_distinct(texts) + len(self._other) - overlap


def _count_distinct(values: pa.ChunkedArray) -> int:
    """``pc.count_distinct`` by sorting: about 20 bytes a value at the peak, where its hash table
    took 60 (a million ids: 22 MB against 60 MB, at the end of a listing when the landing's
    buffers are full)."""
    if not len(values):
        return 0
    ordered = pc.take(values, pc.sort_indices(values))
    if isinstance(ordered, pa.ChunkedArray):
        ordered = ordered.combine_chunks()
    return 1 + (pc.sum(pc.not_equal(ordered[1:], ordered[:-1])).as_py() or 0)


class Completeness:
    """Counts the distinct records of one page-numbered listing against its ``totalItems``."""

    def __init__(self, source: str, path: str, key: Callable[[Any], Any]) -> None:
        self.source, self.path, self.key = source, path, key
        self.seen = DistinctIds()
        self.first_total: int | None = None
        self.last_total: int | None = None

    def add(self, body: dict[str, Any], items: list[Any]) -> None:
        total = body.get("totalItems")
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise _shape_error(self.source, self.path, "'totalItems' is not a non-negative integer, so recon "
                                                       "cannot prove it read every record")
        if self.first_total is None:
            self.first_total = total
        self.last_total = total
        for item in items:
            found = self.key(item)
            self.seen.add(found if found is not None else _fingerprint([item]))
        self.seen.flush()

    def check(self) -> None:
        read = len(self.seen)
        if read not in (self.first_total, self.last_total):
            said = (f"totalItems={self.first_total}" if self.first_total == self.last_total
                    else f"totalItems={self.first_total} on the first page and {self.last_total} on the last")
            raise FatalSourceError(self.source, f"GET {self.path}: read {read} distinct records but the server "
                                   f"said {said}; the listing is incomplete (page base, totalPages or records "
                                   f"moving between pages), so its watermark stays where it was")


def numbered_pages(
    api: Getter,
    path: str,
    params: list[tuple[str, Any]],
    *,
    per_page: int,
    page_base: int | None = None,
    key: Callable[[Any], Any] = lambda item: None,
    max_pages: int | None = None,
) -> Iterator[NumberedPage]:
    """``page``/``perPage`` until ``totalPages``, then prove the listing complete.

    ``page_base`` None detects it: page 0 is asked for first; a server counting from 1 refuses it,
    answers it empty, or answers it as page 1. ``totalPages`` is re-read on every page because the
    set can grow while it is read; a page identical to the previous one means the server ignores
    ``page``. ``key`` gives a record's identity for the completeness count. Pages are read ahead
    (``read_ahead``).
    """
    return read_ahead(api.source, _numbered_pages(api, path, params, per_page, page_base, key, max_pages))


def _numbered_pages(api: Getter, path: str, params: list[tuple[str, Any]], per_page: int, page_base: int | None,
                    key: Callable[[Any], Any], max_pages: int | None) -> Generator[NumberedPage, None, None]:
    max_pages = _limits(api, max_pages, None)[0]
    complete = Completeness(api.source, path, key)

    def fetch(number: int, size: int) -> dict[str, Any]:
        body = api.get(path, [*params, ("page", number), ("perPage", size)])
        if not isinstance(body, dict):
            raise _shape_error(api.source, path, "not a JSON object")
        return body

    def first(number: int) -> tuple[dict[str, Any], int]:
        """The first page, retried with a smaller perPage while the server refuses the size."""
        size = per_page
        while True:
            try:
                return fetch(number, size), size
            except HttpStatusError as exc:
                smaller = smaller_page_size(exc, size)
                if smaller is None:
                    raise
                size = smaller

    if page_base is None:
        page_base, body, size, probe = _detect_base(api, path, first, fetch)
    else:
        (body, size), probe = first(page_base), None
    number = page_base
    previous: list[Any] | None = None  # the last page's items, for the repeat check
    limit: int | None = None
    while True:
        items = _items(api.source, path, body)
        total = body.get("totalPages")
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise _shape_error(api.source, path, "'totalPages' is not a non-negative integer")
        if limit is None:
            limit = min(max_pages, 2 * total + 10)  # a totalPages that keeps growing stays bounded
        if items:
            if previous is not None and _same_items(items, previous):
                raise FatalSourceError(api.source, f"GET {path}: page {number} repeats the previous page; "
                                       "stopping to avoid a loop")
            previous = items
        complete.add(body, items)
        yield NumberedPage(number, items, total)
        if number >= page_base + total - 1 or not items:
            break
        if number - page_base + 1 >= limit:
            raise FatalSourceError(api.source, f"GET {path}: read {limit} pages and totalPages keeps growing; "
                                   "stopping")
        number += 1
        body = probe if probe is not None and number == page_base + 1 else fetch(number, size)
        probe = None
    complete.check()


def _items(source: str, path: str, body: dict[str, Any]) -> list[Any]:
    items = body.get("items")
    if items is None:
        return []
    if not isinstance(items, list):
        raise _shape_error(source, path, "'items' is not a list")
    return items


def _detect_base(api: Getter, path: str, first: Callable[[int], tuple[dict[str, Any], int]],
                 fetch: Callable[[int, int], dict[str, Any]]) -> tuple[int, dict[str, Any], int, dict[str, Any] | None]:
    """(page base, its first page, the page size, page 1 if already fetched as the second page)."""
    try:
        zero, size = first(0)
    except HttpStatusError as exc:
        if exc.status in (400, 404, 422):
            one, size = first(1)  # "page must be >= 1": counted from 1
            return 1, one, size, None
        raise
    zero_items = _items(api.source, path, zero)
    if not zero_items:
        # Empty page 0: nothing to read (totalItems 0), or a server counting from 1 that answers
        # page 0 with nothing. Page 1 tells which; the completeness check backs the guess.
        one = fetch(1, size)
        if _items(api.source, path, one) or zero.get("totalItems"):
            return 1, one, size, None
        return 0, zero, size, None
    one = fetch(1, size)
    if _fingerprint(_items(api.source, path, one)) == _fingerprint(zero_items):
        return 1, one, size, None  # page 0 answered as page 1
    return 0, zero, size, one
