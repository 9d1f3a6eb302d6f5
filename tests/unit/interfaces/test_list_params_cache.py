"""Collection queries are parsed once per query string; the cache keeps no caller's data."""

from typing import Any
from urllib.parse import parse_qsl

import pytest
from hk_testing.models import Task
from litestar.datastructures import MultiDict

from hexkernel.interfaces.http.query_params import InvalidQuery, parse_list_params
from hexkernel.interfaces.http.resources import _ListParamsCache


class FakeRequest:
    """What the cache reads of a request: the raw query string and its parsed parameters."""

    def __init__(self, query: str) -> None:
        self.scope: dict[str, Any] = {"query_string": query.encode()}
        self.query_params = MultiDict(parse_qsl(query, keep_blank_values=True))


def parse(cache: _ListParamsCache, query: str) -> Any:
    return cache.parse(FakeRequest(query))  # type: ignore[arg-type]


@pytest.fixture
def cache() -> _ListParamsCache:
    return _ListParamsCache(Task, default_page_size=20, max_page_size=100)


def test_a_query_string_is_parsed_as_parse_list_params_parses_it(cache):
    query = "status=open&status=done&priority[gte]=3&sort=-priority&page=2&fields=title"
    expected = parse_list_params(
        Task,
        {
            "status": ["open", "done"],
            "priority[gte]": ["3"],
            "sort": ["-priority"],
            "page": ["2"],
            "fields": ["title"],
        },
        default_page_size=20,
        max_page_size=100,
    )
    assert parse(cache, query) == expected
    assert parse(cache, "") == parse_list_params(Task, {}, default_page_size=20)


def test_the_same_query_string_is_parsed_once(cache):
    first = parse(cache, "status=open&sort=-priority")
    assert parse(cache, "status=open&sort=-priority") is first
    assert parse(cache, "sort=-priority&status=open") is not first
    assert parse(cache, "sort=-priority&status=open") == first


def test_the_page_size_limits_are_those_of_the_resource():
    small = _ListParamsCache(Task, default_page_size=5, max_page_size=10)
    assert parse(small, "").page_size == 5
    with pytest.raises(InvalidQuery):
        parse(small, "page_size=11")


def test_a_bad_query_is_refused_every_time_and_not_kept(cache):
    for _ in range(2):
        with pytest.raises(InvalidQuery) as caught:
            parse(cache, "priority[gte]=high")
        assert [(e.field, e.code) for e in caught.value.errors] == [
            ("priority[gte]", "invalid_value")
        ]
    assert cache.parsed == {}


def test_what_is_kept_holds_no_row_restriction(cache):
    parsed = parse(cache, "status=open")
    assert "owner" not in repr(parsed.query.filter)


def test_the_cache_is_bounded(cache):
    for number in range(_ListParamsCache._LIMIT + 5):
        parse(cache, f"page={number + 1}")
    assert len(cache.parsed) <= _ListParamsCache._LIMIT
    assert parse(cache, "page=3").page == 3


def test_the_page_links_stem_keeps_every_parameter_but_the_page(cache):
    request = FakeRequest("status=open&page=2&sort=-priority&q=a+b%26c")
    request.scope.update(path="/tasks", root_path="/api")
    request.url = type("Url", (), {"path": "/api/tasks"})()  # type: ignore[attr-defined]
    start = cache.link_start(request)  # type: ignore[arg-type]
    assert start == "/api/tasks?status=open&sort=-priority&q=a+b%26c&page="
    assert cache.link_start(request) is start  # type: ignore[arg-type]
    bare = FakeRequest("page=3")
    bare.scope.update(path="/tasks")
    bare.url = type("Url", (), {"path": "/tasks"})()  # type: ignore[attr-defined]
    assert cache.link_start(bare) == "/tasks?page="  # type: ignore[arg-type]
