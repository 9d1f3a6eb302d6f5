"""The URL query grammar compiles to the core DSL; everything else is a 400 naming the parameter."""

import json

import pytest
from hk_testing.models import Status, Task, User

from hexkernel.core.query import And, Condition, Not, Op, Or, Projection, SortKey
from hexkernel.interfaces.http.query_params import InvalidQuery, parse_list_params


def parse(**params):
    return parse_list_params(
        Task, {k: v if isinstance(v, list) else [v] for k, v in params.items()}
    )


def problems(**params):
    with pytest.raises(InvalidQuery) as caught:
        parse(**params)
    return [(e.field, e.code) for e in caught.value.errors]


def test_equality_operators_sort_page_and_fields():
    result = parse(
        **{
            "status": ["open", "done"],
            "priority[gte]": "3",
            "sort": "-priority,title",
            "page": "2",
            "page_size": "50",
            "fields": "title",
        }
    )
    condition = result.query.filter
    assert isinstance(condition, And)
    assert condition.items[0] == Condition(
        "status", Op.IN, (Status.OPEN, Status.DONE), Task.status.node
    )
    assert condition.items[1].value == 3
    assert result.query.order == (SortKey("priority", True), SortKey("title"))
    assert (result.query.skip, result.query.limit, result.page, result.page_size) == (50, 50, 2, 50)
    assert result.query.projection == Projection(include=frozenset({"title"}))


def test_defaults():
    result = parse()
    assert (result.page, result.page_size, result.query.filter) == (1, 20, None)


def test_in_and_contains_on_lists_and_strings():
    assert parse(**{"priority[in]": "1,2"}).query.filter.value == (1, 2)
    assert parse(tags="x").query.filter.op is Op.CONTAINS
    assert parse(**{"title[contains]": "a.*"}).query.filter.value == "a.*"


def test_where_documents_compile_to_the_same_expressions():
    where = {"$or": [{"priority": {"$gt": 2}}, {"title": "x"}], "tags": {"$all": ["a", "b"]}}
    result = parse(where=json.dumps(where))
    expr = result.query.filter
    assert isinstance(expr, And)
    assert isinstance(expr.items[0], Or)
    assert [c.value for c in expr.items[1:]] == ["a", "b"]
    nor = parse(where=json.dumps({"$nor": [{"priority": 1}]})).query.filter
    assert isinstance(nor, Not)


@pytest.mark.parametrize(
    "operator",
    ["$where", "$expr", "$function", "$regex", "$text", "$jsonSchema", "$mod", "$accumulator"],
)
def test_forbidden_where_operators_are_invalid_queries(operator):
    assert problems(where=json.dumps({operator: "1"})) == [("where", "invalid_query")]
    assert problems(where=json.dumps({"priority": {operator: 1}})) == [("where", "invalid_query")]


def test_nested_operator_tricks_and_unknown_fields_are_refused():
    assert problems(where=json.dumps({"priority": {"$not": {"$where": "1"}}})) == [
        ("where", "invalid_query")
    ]
    assert problems(where=json.dumps({"secret": 1})) == [("where.secret", "invalid_query")]
    assert problems(where="{not json") == [("where", "invalid_query")]
    assert problems(where="[]") == [("where", "invalid_query")]
    deep = {"priority": 1}
    for _ in range(12):
        deep = {"$and": [deep]}
    assert problems(where=json.dumps(deep)) == [("where", "invalid_query")]


def test_values_that_do_not_convert_name_the_field():
    assert problems(**{"priority[gte]": "high"}) == [("priority[gte]", "invalid_value")]
    assert problems(status="archived") == [("status", "invalid_value")]
    assert problems(due="yesterday") == [("due", "invalid_value")]
    assert problems(where=json.dumps({"priority": "3"})) == [("where.priority", "invalid_value")]


def test_every_bad_parameter_is_reported():
    assert sorted(problems(colour="red", page="0", page_size="101", sort="nope")) == [
        ("colour", "invalid_query"),
        ("page", "invalid_query"),
        ("page_size", "invalid_query"),
        ("sort", "invalid_query"),
    ]


def test_excluded_fields_cannot_be_queried_sorted_or_projected():
    def user_problems(**params):
        with pytest.raises(InvalidQuery) as caught:
            parse_list_params(User, {k: [v] for k, v in params.items()})
        return [e.field for e in caught.value.errors]

    assert user_problems(password="x") == ["password"]
    assert user_problems(sort="password") == ["sort"]
    assert user_problems(fields="password") == ["fields"]
    assert user_problems(where=json.dumps({"password": {"$exists": True}})) == ["where.password"]


def test_unknown_operators_and_repeats():
    assert problems(**{"priority[regex]": "x"}) == [("priority[regex]", "invalid_query")]
    assert problems(**{"priority[gt]": ["1", "2"]}) == [("priority[gt]", "invalid_query")]
