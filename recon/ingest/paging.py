"""Paginators in the manner of dlt's rest_client: each knows one paging style and its loop guard."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from recon.errors import FatalSourceError


class Getter(Protocol):
    source: str

    def get(self, path: str, params: Any = None) -> Any: ...


@dataclass
class CursorPage:
    items: list[Any]
    cursor: str | None  # where to resume after this page
    has_more: bool


@dataclass
class NumberedPage:
    number: int
    items: list[Any]
    total_pages: int


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
) -> Iterator[CursorPage]:
    """Follow an opaque cursor until ``hasMore`` is false.

    A cursor that comes back a second time would loop forever: the pull stops with an error and
    the stored cursor stays where the data is safe.
    """
    seen: set[str] = set()
    if cursor:
        seen.add(cursor)

    def fetch(at: str | None) -> Any:
        query = dict(params)
        if at:
            query[cursor_param] = at
        return api.get(path, query)

    # The next page is fetched while the caller lands this one: the network wait overlaps with
    # parsing instead of adding to it. Only reading runs ahead; nothing is committed early.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{api.source}-prefetch")
    ahead: Future[Any] | None = None
    try:
        while True:
            body = ahead.result() if ahead is not None else fetch(cursor)
            ahead = None
            page = _cursor_page(api, path, body, items_key, cursor_key, has_more_key, seen, cursor)
            cursor = page.cursor
            if page.has_more:
                ahead = pool.submit(fetch, cursor)
            yield page
            if not page.has_more:
                return
    finally:
        if ahead is not None:
            ahead.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _cursor_page(api: Getter, path: str, body: Any, items_key: str, cursor_key: str, has_more_key: str,
                 seen: set[str], cursor: str | None) -> CursorPage:
    if not isinstance(body, dict):
        raise _shape_error(api.source, path, "not a JSON object")
    items = body.get(items_key)
    if items is None:
        items = []
    if not isinstance(items, list):
        raise _shape_error(api.source, path, f"{items_key!r} is not a list")
    has_more = body.get(has_more_key)
    if not isinstance(has_more, bool):
        raise _shape_error(api.source, path, f"{has_more_key!r} is not true/false")
    nxt = body.get(cursor_key)
    if nxt is not None and not isinstance(nxt, str):
        raise _shape_error(api.source, path, f"{cursor_key!r} is not a string")
    if has_more and not nxt:
        raise _shape_error(api.source, path, f"{has_more_key} is true but there is no {cursor_key}")
    if has_more and nxt in seen:
        raise FatalSourceError(api.source, f"GET {path}: cursor {nxt!r} repeated; stopping to avoid a loop")
    if has_more:
        seen.add(nxt)  # type: ignore[arg-type]
    # At the end some servers send no cursor: keep resuming from the last one we had.
    return CursorPage(items, nxt or cursor, has_more)


def _fingerprint(items: list[Any]) -> str:
    blob = json.dumps(items, sort_keys=True, default=str).encode("utf-8", "surrogatepass")
    return hashlib.sha256(blob).hexdigest()


def numbered_pages(
    api: Getter,
    path: str,
    params: list[tuple[str, Any]],
    *,
    per_page: int,
    page_base: int = 1,
) -> Iterator[NumberedPage]:
    """``page``/``perPage`` until ``totalPages``.

    ``totalPages`` is re-read on every page because the set can grow while we read it; a page
    identical to the previous one means the server ignores ``page`` and would loop forever.
    """
    number = page_base
    previous: str | None = None
    while True:
        body = api.get(path, [*params, ("page", number), ("perPage", per_page)])
        if not isinstance(body, dict):
            raise _shape_error(api.source, path, "not a JSON object")
        items = body.get("items")
        if items is None:
            items = []
        if not isinstance(items, list):
            raise _shape_error(api.source, path, "'items' is not a list")
        total = body.get("totalPages")
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            raise _shape_error(api.source, path, "'totalPages' is not a non-negative integer")
        if items:
            mark = _fingerprint(items)
            if mark == previous:
                raise FatalSourceError(api.source, f"GET {path}: page {number} repeats the previous page; "
                                       "stopping to avoid a loop")
            previous = mark
        yield NumberedPage(number, items, total)
        last = page_base + total - 1
        if number >= last or not items:
            return
        number += 1
