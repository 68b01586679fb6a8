"""Paginators in the manner of dlt's rest_client: each knows one paging style and its loop guard."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from ..errors import FatalSourceError


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
    while True:
        query = dict(params)
        if cursor:
            query[cursor_param] = cursor
        body = api.get(path, query)
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
        # At the end some servers send no cursor: keep resuming from the last one we had.
        cursor = nxt or cursor
        if has_more:
            seen.add(nxt)  # type: ignore[arg-type]
        yield CursorPage(items, cursor, has_more)
        if not has_more:
            return


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
