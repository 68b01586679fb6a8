"""Paginators fed hand-built responses (no HTTP): loop guards and shape checks."""

import pytest

from recon.errors import FatalSourceError
from recon.ingest.paging import cursor_pages, numbered_pages


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
    with pytest.raises(FatalSourceError, match="repeated"):
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
    pages = list(numbered_pages(api, "/p", [("x", "eq:1")], per_page=2, page_base=1))
    assert [p.number for p in pages] == [1, 2, 3]
    assert api.calls[0] == [("x", "eq:1"), ("page", 1), ("perPage", 2)]


def test_numbered_pages_zero_based():
    api = Pages([{"items": [1], "totalPages": 2}, {"items": [2], "totalPages": 2}])
    assert [p.number for p in numbered_pages(api, "/p", [], per_page=1, page_base=0)] == [0, 1]


def test_a_page_identical_to_the_previous_one_stops_the_pull():
    api = Pages([{"items": [{"id": 1}], "totalPages": 5}, {"items": [{"id": 1}], "totalPages": 5}])
    with pytest.raises(FatalSourceError, match="repeats the previous page"):
        list(numbered_pages(api, "/p", [], per_page=1))


def test_an_empty_page_ends_the_listing_early():
    api = Pages([{"items": [1], "totalPages": 9}, {"items": [], "totalPages": 9}])
    assert len(list(numbered_pages(api, "/p", [], per_page=1))) == 2
