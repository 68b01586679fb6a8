"""Paginators fed hand-built responses (no HTTP): loop guards and shape checks."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recon.errors import FatalSourceError, HttpStatusError
from recon.ingest.http import TooDeep
from recon.ingest.paging import DistinctIds, _fingerprint, cursor_pages, numbered_pages


class Pages:
    source = "test"

    def __init__(self, responses):
        self.responses = list(responses)
        self.calls = []

    def get(self, path, params=None):
        self.calls.append(params)
        return self.responses.pop(0)


def test_cursor_pages_follow_has_more_and_keep_the_last_cursor():
    api = Pages([
        {"items": [1, 2], "cursor": "a", "hasMore": True},
        {"items": [3], "cursor": "b", "hasMore": True},
        {"items": [], "cursor": None, "hasMore": False},
    ])
    pages = list(cursor_pages(api, "/feed", {"pageSize": 2}, cursor=None))
    assert [p.items for p in pages] == [[1, 2], [3], []]
    # No cursor at the end: resume from the last one we were given.
    assert pages[-1].cursor == "b"
    assert api.calls == [{"pageSize": 2}, {"pageSize": 2, "cursor": "a"}, {"pageSize": 2, "cursor": "b"}]


def test_a_repeated_cursor_stops_the_pull():
    api = Pages([
        {"items": [1], "cursor": "a", "hasMore": True},
        {"items": [2], "cursor": "b", "hasMore": True},
        {"items": [3], "cursor": "a", "hasMore": True},
    ])
    with pytest.raises(FatalSourceError, match="repeated"):
        list(cursor_pages(api, "/feed", {}, cursor=None))


def test_the_stored_cursor_coming_back_is_a_loop_too():
    api = Pages([{"items": [1], "cursor": "start", "hasMore": True}])
    with pytest.raises(FatalSourceError, match="the cursor did not move"):
        list(cursor_pages(api, "/feed", {}, cursor="start"))


@pytest.mark.parametrize("body, what", [
    ([], "not a JSON object"),
    ({"items": {}, "hasMore": False}, "not a list"),
    ({"items": [], "hasMore": "no"}, "true/false"),
    ({"items": [], "hasMore": True}, "no cursor"),
])
def test_unexpected_shapes_are_fatal(body, what):
    with pytest.raises(FatalSourceError, match=what):
        list(cursor_pages(Pages([body]), "/feed", {}, cursor=None))


def test_numbered_pages_reread_total_pages_as_the_set_grows():
    api = Pages([
        {"items": [1, 2], "totalItems": 4, "totalPages": 2},
        {"items": [3, 4], "totalItems": 5, "totalPages": 3},
        {"items": [5], "totalItems": 5, "totalPages": 3},
    ])
    for body in api.responses:
        body.setdefault("totalItems", 5)
    pages = list(numbered_pages(api, "/p", [("x", "eq:1")], per_page=2, page_base=1))
    assert [p.number for p in pages] == [1, 2, 3]
    assert api.calls[0] == [("x", "eq:1"), ("page", 1), ("perPage", 2)]


def test_numbered_pages_zero_based():
    api = Pages([{"items": [1], "totalItems": 2, "totalPages": 2}, {"items": [2], "totalItems": 2, "totalPages": 2}])
    assert [p.number for p in numbered_pages(api, "/p", [], per_page=1, page_base=0)] == [0, 1]


def test_a_page_identical_to_the_previous_one_stops_the_pull():
    api = Pages([{"items": [{"id": 1}], "totalItems": 5, "totalPages": 5},
                 {"items": [{"id": 1}], "totalItems": 5, "totalPages": 5}])
    with pytest.raises(FatalSourceError, match="repeats the previous page"):
        list(numbered_pages(api, "/p", [], per_page=1, page_base=1))


# As decode_json builds them: Decimal for non-integers, a lone surrogate for bad UTF-8, a huge
# integer, a value nested too deep for the decoder (orjson encodes the first, not the others).
_ODD = [Decimal("152.50"), "caf\udce9", 2**70, TooDeep("[[[")]


@pytest.mark.parametrize("odd", _ODD, ids=["decimal", "surrogate", "bigint", "toodeep"])
def test_a_repeated_page_is_caught_whatever_its_values(odd):
    first = [{"id": 1, "amount": odd, "lines": [{"b": 2, "a": odd}]}]
    again = [{"lines": [{"a": odd, "b": 2}], "amount": odd, "id": 1}]  # the same, keys in another order
    api = Pages([{"items": first, "totalItems": 2, "totalPages": 2},
                 {"items": again, "totalItems": 2, "totalPages": 2}])
    with pytest.raises(FatalSourceError, match="page 2 repeats the previous page"):
        list(numbered_pages(api, "/p", [], per_page=1, page_base=1))


@pytest.mark.parametrize("odd", _ODD, ids=["decimal", "surrogate", "bigint", "toodeep"])
def test_pages_that_differ_in_one_value_are_not_a_repeat(odd):
    first = [{"id": 1, "amount": odd, "lines": [{"a": odd}]}]
    second = [{"id": 1, "amount": odd, "lines": [{"a": odd, "b": None}]}]
    api = Pages([{"items": first, "totalItems": 2, "totalPages": 2},
                 {"items": second, "totalItems": 2, "totalPages": 2}])
    pages = numbered_pages(api, "/p", [], per_page=1, page_base=1, key=lambda item: len(item["lines"][-1]))
    assert len(list(pages)) == 2


def test_pages_alike_at_both_ends_but_not_between_are_not_a_repeat():
    # The repeat check first compares the first and last items only; the middle still decides.
    first = [{"id": 1}, {"id": 2, "amount": 5}, {"id": 3}]
    second = [{"id": 1}, {"id": 2, "amount": 6}, {"id": 3}]
    api = Pages([{"items": first, "totalItems": 3, "totalPages": 3},
                 {"items": second, "totalItems": 3, "totalPages": 3},
                 {"items": list(second), "totalItems": 3, "totalPages": 3}])
    read: list[int] = []
    with pytest.raises(FatalSourceError, match="page 3 repeats the previous page"):
        for page in numbered_pages(api, "/p", [], per_page=3, page_base=1, key=lambda item: item.get("amount")):
            read.append(page.number)
    assert read == [1, 2]  # page 2 is not taken for page 1 again; page 3 is page 2 again


def test_the_page_fingerprint_tells_the_encoders_apart():
    # A value only json.dumps encodes never collides with the text orjson gives for another one.
    assert _fingerprint([2**70]) != _fingerprint([str(2**70)])
    assert _fingerprint([1]) != _fingerprint([True])


def test_an_empty_page_ends_the_listing_early():
    api = Pages([{"items": [1], "totalItems": 1, "totalPages": 9}, {"items": [], "totalItems": 1, "totalPages": 9}])
    assert len(list(numbered_pages(api, "/p", [], per_page=1, page_base=1))) == 2


# --- feeds whose end the documents leave open ------------------------------------------------------

def test_a_feed_without_has_more_ends_on_an_empty_page():
    api = Pages([{"items": [1], "cursor": "a"}, {"items": [2], "cursor": "b"}, {"items": [], "cursor": "b"}])
    pages = list(cursor_pages(api, "/feed", {}, cursor=None))
    assert [p.items for p in pages] == [[1], [2], []]
    assert [p.has_more for p in pages] == [True, True, False] and pages[-1].cursor == "b"


def test_a_feed_without_has_more_ends_on_an_unchanged_cursor():
    api = Pages([{"items": [1], "cursor": "a"}, {"items": [2], "cursor": "a"}])
    pages = list(cursor_pages(api, "/feed", {}, cursor=None))
    assert [p.items for p in pages] == [[1], [2]] and pages[-1].cursor == "a"


def test_try_later_ends_the_feed_for_now():
    api = Pages([{"items": [1], "cursor": "a"}, {"items": [], "cursor": "a", "tryLater": True}])
    assert [p.has_more for p in cursor_pages(api, "/feed", {}, cursor=None)] == [True, False]


def test_endless_empty_pages_that_say_more_fail_the_source():
    api = Pages([{"items": [], "cursor": f"c{i}", "hasMore": True} for i in range(10)])
    with pytest.raises(FatalSourceError, match="3 empty pages in a row"):
        list(cursor_pages(api, "/feed", {}, cursor=None, max_empty_pages=3))
    assert len(api.calls) <= 4  # the prefetch may have asked for one more


def test_a_feed_longer_than_the_page_bound_fails_the_source():
    api = Pages([{"items": [i], "cursor": f"c{i}", "hasMore": True} for i in range(10)])
    with pytest.raises(FatalSourceError, match="read 4 pages without reaching the end"):
        list(cursor_pages(api, "/feed", {}, cursor=None, max_pages=4))


# --- page-numbered listings: page base, perPage limits, completeness --------------------------------

class Numbered(Pages):
    """A page-numbered server over ``records``: page base, page-size limit and totalPages habit."""

    def __init__(self, records, *, base=1, limit=None, total_pages=None, page0=None):
        super().__init__([])
        self.records, self.base, self.limit, self.total_pages, self.page0 = records, base, limit, total_pages, page0

    def get(self, path, params=None):
        args = dict(params)
        self.calls.append(args)
        page, size = args["page"], args["perPage"]
        if self.limit and size > self.limit:
            raise HttpStatusError("test", "GET /p", 400, None, f"HTTP 400: perPage must be at most {self.limit}")
        if page < self.base:
            if self.page0 == "400":
                raise HttpStatusError("test", "GET /p", 400, None, "HTTP 400: page must be >= 1")
            page = self.base if self.page0 == "clamp" else page
        start = (page - self.base) * size
        items = self.records[start:start + size] if start >= 0 and page >= self.base else []
        pages = -(-len(self.records) // size)
        return {"items": items, "totalItems": len(self.records),
                "totalPages": self.total_pages if self.total_pages is not None else pages}


RECORDS = [{"id": i} for i in range(7)]


@pytest.mark.parametrize("base, page0", [(0, None), (1, "400"), (1, "clamp"), (1, "empty")])
def test_the_page_base_is_detected(base, page0):
    api = Numbered(RECORDS, base=base, page0=page0)
    pages = list(numbered_pages(api, "/p", [], per_page=3, key=lambda r: r["id"]))
    assert [r for p in pages for r in p.items] == RECORDS
    assert pages[0].number == base


def test_a_wrong_page_base_fails_the_listing_with_both_numbers():
    api = Numbered(RECORDS, base=0)
    with pytest.raises(FatalSourceError, match="read 4 distinct records but the server said totalItems=7"):
        list(numbered_pages(api, "/p", [], per_page=3, page_base=1, key=lambda r: r["id"]))


def test_total_pages_reported_too_low_fails_the_listing():
    api = Numbered(RECORDS, total_pages=1)
    with pytest.raises(FatalSourceError, match="read 3 distinct records but the server said totalItems=7"):
        list(numbered_pages(api, "/p", [], per_page=3, page_base=1, key=lambda r: r["id"]))


def test_a_refused_per_page_is_retried_at_the_limit_the_server_names():
    api = Numbered(RECORDS, limit=2)
    pages = list(numbered_pages(api, "/p", [], per_page=100, page_base=1, key=lambda r: r["id"]))
    assert [r for p in pages for r in p.items] == RECORDS
    assert [c["perPage"] for c in api.calls] == [100, 2, 2, 2, 2]


def test_a_total_pages_that_keeps_growing_stays_bounded():
    class Growing(Numbered):
        def get(self, path, params=None):
            body = super().get(path, params)
            page = dict(params)["page"]
            body.update(items=[{"id": page}], totalItems=page + 1, totalPages=page + 1)
            return body

    api = Growing([])
    with pytest.raises(FatalSourceError, match="totalPages keeps growing"):
        list(numbered_pages(api, "/p", [], per_page=1, page_base=1, key=lambda r: r["id"]))
    assert len(api.calls) == 14  # 2 × the first page's totalPages (2) + 10


# --- the completeness count ----------------------------------------------------------------------

_IDS = st.one_of(
    st.integers(min_value=-3, max_value=40),  # small, so that values repeat
    st.integers(min_value=-(2**70), max_value=2**70),
    st.booleans(),
    st.decimals(min_value=-5, max_value=40, places=1, allow_nan=False),  # Decimal("3.0") == 3
    st.floats(min_value=-5, max_value=40).map(lambda f: round(f * 2) / 2),  # 3.0 == 3
    st.text(alphabet="13ab", max_size=2),  # "1" equals no number
    st.tuples(st.integers(0, 3)),
)


@given(pages=st.lists(st.lists(_IDS, max_size=12), max_size=6))
def test_distinct_ids_count_what_a_set_counts(pages):
    ids = DistinctIds()
    for page in pages:
        for value in page:
            ids.add(value)
        ids.flush()
    assert len(ids) == len({value for page in pages for value in page})
